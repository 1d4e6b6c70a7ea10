"""Order management: pure state table, risk rules and rate budget."""
