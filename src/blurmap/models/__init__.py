"""blurmap.models"""
