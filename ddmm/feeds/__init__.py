"""ddmm.feeds."""
