"""ddmm.persistence."""
