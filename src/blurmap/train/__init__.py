"""blurmap.train"""
