"""coldrec.clean: raw behavior logs -> curated Delta tables, every bad record quarantined with a named reason.

Modules, in pipeline order: ``parse`` (raw text + typed fields), ``validate`` (normalized values + ``reason``),
``catalog`` (items/users MERGE), ``dedupe``, ``bots``, ``sessionize`` (all on the shared ``timeline`` window),
``report`` (counts and the data-quality gate), ``job`` (the orchestration: :func:`run_clean`).
"""

from coldrec.clean.job import clean_days, run_clean
from coldrec.clean.report import CleanReport, DataQualityError
from coldrec.clean.rules import EVENT_REASONS, EVENT_TYPE_SYNONYMS

__all__ = ["EVENT_REASONS", "EVENT_TYPE_SYNONYMS", "CleanReport", "DataQualityError", "clean_days", "run_clean"]
