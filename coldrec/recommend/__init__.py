"""coldrec.recommend."""
