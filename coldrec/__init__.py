"""coldrec: cold-start product recommendation as a nightly Spark + PyTorch + Airflow batch pipeline."""

__version__ = "0.1.0"
