"""coldrec.cf."""
