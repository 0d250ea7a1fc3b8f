"""The notifications window."""
