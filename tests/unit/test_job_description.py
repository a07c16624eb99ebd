"""``coldrec.spark.job_description``: the Spark jobs of a block carry its name (Spark UI, REST API), the previous
name comes back afterwards, nested blocks included."""

from __future__ import annotations

import pytest

from coldrec.spark import job_description

pytestmark = pytest.mark.spark

KEY = "spark.job.description"


def test_job_description_names_the_block_and_restores_the_previous_name(spark):
    context = spark.sparkContext
    before = context.getLocalProperty(KEY)  # another test may have left a name on this shared session's thread
    with job_description(spark, "coldrec similarities: item-item cosine"):
        assert context.getLocalProperty(KEY) == "coldrec similarities: item-item cosine"
        with job_description(spark, "inner"):
            assert context.getLocalProperty(KEY) == "inner"
        assert context.getLocalProperty(KEY) == "coldrec similarities: item-item cosine"
    assert context.getLocalProperty(KEY) == before


def test_job_description_is_restored_when_the_block_fails(spark):
    before = spark.sparkContext.getLocalProperty(KEY)
    spark.sparkContext.setJobDescription("the caller's name")
    with pytest.raises(RuntimeError), job_description(spark, "failing step"):
        raise RuntimeError("boom")
    assert spark.sparkContext.getLocalProperty(KEY) == "the caller's name"
    spark.sparkContext.setLocalProperty(KEY, before)  # type: ignore[arg-type]
