"""blurmap.physics"""
