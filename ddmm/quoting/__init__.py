"""ddmm.quoting."""
