"""coldrec.models."""
