"""triotrade strategies package."""
