"""coldrec.evaluate."""
