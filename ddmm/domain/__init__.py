"""ddmm.domain."""
