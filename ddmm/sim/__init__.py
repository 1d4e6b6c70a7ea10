"""ddmm.sim."""
