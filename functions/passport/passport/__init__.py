"""The passport window."""
