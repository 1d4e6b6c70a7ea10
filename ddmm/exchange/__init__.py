"""ddmm.exchange."""
