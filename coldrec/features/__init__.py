"""coldrec.features."""
