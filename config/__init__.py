"""The bottom layer: the app's settings, read once from the environment.

Every other package may import this one; it imports nothing of ours.
"""
