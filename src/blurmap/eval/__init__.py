"""blurmap.eval"""
