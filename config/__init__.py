"""The bottom layer: the app's settings, read once from the environment, and the one Redis
reference built from them.

Every other package may import this one; it imports nothing of ours.
"""
