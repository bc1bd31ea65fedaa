"""triotrade backtest package."""
