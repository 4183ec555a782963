"""Pages for service standards (SLAs), scorecards and rankings."""
