"""coldrec.data."""
