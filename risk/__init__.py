"""triotrade risk package."""
