"""Worker-wide concerns, one middleware class per module."""
