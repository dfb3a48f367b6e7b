"""blurmap.synth"""
