"""blurmap.data"""
