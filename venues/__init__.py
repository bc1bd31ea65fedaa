"""triotrade venues package."""
