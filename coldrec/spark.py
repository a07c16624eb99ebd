"""The one SparkSession builder used by jobs, Airflow tasks, the CLI and tests.

Why a project-local Ivy cache: the Delta jars come from Maven Central; resolving them once during set-up into
``.coldrec/ivy`` (``spark.jars.ivy``) means concurrent tasks never race on a shared ``~/.ivy2`` and a run never
depends on the network after set-up. A cluster changes only ``COLDREC_SPARK_MASTER`` / ``COLDREC_SPARK_CONF``.

``python -m coldrec.spark --resolve`` is the set-up step (the Makefile runs it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from coldrec.config import Settings, load_settings

_RESOLVE_HINT = (
    "Could not resolve the Delta Lake jars ({packages}) from Maven Central into {ivy}.\n"
    "Fix: make sure this machine reaches Maven Central and run `make setup` (or `python -m coldrec.spark --resolve`);\n"
    "offline, run `mvn dependency:get -Dartifact=<each package>` so the jars land in ~/.m2, which Spark reads too,\n"
    "or point COLDREC_SPARK_CONF at a cluster whose images bake the jars in "
    '(e.g. {{"spark.jars": "/opt/delta.jar,..."}}).'
)


@contextmanager
def job_description(spark: SparkSession, text: str) -> Iterator[None]:
    """Name the Spark jobs this thread starts inside the block (the Spark UI's and REST API's ``description``).

    Why: a long step runs many anonymous jobs; the name tells an operator which step a job belongs to, and the
    worker-loss fault test waits for the similarity computation by it. The previous name comes back afterwards.
    """
    context = spark.sparkContext
    previous = context.getLocalProperty("spark.job.description")
    context.setJobDescription(text)
    try:
        yield
    finally:
        context.setLocalProperty("spark.job.description", previous)  # type: ignore[arg-type]


def delta_packages() -> list[str]:
    """Maven coordinates the pip ``delta-spark`` needs for this pyspark (as configure_spark_with_delta_pip sets)."""
    from delta import pip_utils

    builder = pip_utils.configure_spark_with_delta_pip(SparkSession.Builder())
    return builder._options["spark.jars.packages"].split(",")  # read back what delta-spark itself would set


def under_spark_submit() -> bool:
    """True inside a ``spark-submit`` driver: the JVM is already up and its --master / --packages are final."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def submit_conf(settings: Settings | None = None) -> dict[str, str]:
    """The Spark confs a ``spark-submit`` of a ``jobs/`` script needs (Delta jars from the project Ivy cache).

    The DAGs pass these to SparkSubmitOperator and the tests to ``spark-submit --conf``.
    """
    settings = settings or load_settings()
    return {
        "spark.jars.packages": ",".join(delta_packages()),
        "spark.jars.ivy": settings.ivy_dir,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        **settings.spark_conf,
    }


def build_spark(
    app_name: str = "coldrec",
    settings: Settings | None = None,
    extra_conf: dict[str, str] | None = None,
    extra_packages: list[str] | None = None,
) -> SparkSession:
    """A SparkSession with Delta Lake, configured from settings (master, confs) with local-friendly defaults.

    Inside ``spark-submit`` the master and confs given on the command line win (Spark's own precedence); the
    builder only fills what is unset.
    """
    from delta import configure_spark_with_delta_pip

    settings = settings or load_settings()
    os.makedirs(settings.ivy_dir, exist_ok=True)
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.jars.ivy", settings.ivy_dir)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        # Delta replays its log with this many tasks (default 50): sized like the shuffle, a small local run
        # does not pay for 50 tiny tasks on every commit; a cluster raises both through settings.
        .config("spark.databricks.delta.snapshotPartitions", str(max(2, settings.shuffle_partitions)))
    )
    if not under_spark_submit():
        builder = builder.master(settings.spark_master)
        if settings.spark_master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
            # Local Python workers must run this interpreter (the venv with numpy and coldrec), not whatever
            # `python3` is on PATH. PySpark's driver reads only the PYSPARK_PYTHON variable for its workers (the
            # `spark.pyspark.python` conf is spark-submit's), so a bare `.venv/bin/coldrec` needs it set here.
            os.environ["PYSPARK_PYTHON"] = sys.executable
    for key, value in {**settings.spark_conf, **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    builder = configure_spark_with_delta_pip(builder, extra_packages=extra_packages or [])
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM failed to start: the usual cause is unresolvable jars
        text = str(exc)
        if "resolve" in text.lower() or "unresolved dependency" in text.lower() or "JAVA_GATEWAY" in text:
            raise RuntimeError(
                _RESOLVE_HINT.format(packages=", ".join(delta_packages()), ivy=settings.ivy_dir)
            ) from exc
        raise
    spark.sparkContext.setLogLevel(os.environ.get("COLDREC_SPARK_LOG_LEVEL", "WARN"))
    return spark


def resolve_jars() -> None:
    """Start and stop a local session once so Ivy downloads the Delta jars into the project cache."""
    settings = load_settings({"spark_master": "local[1]"})
    try:
        spark = build_spark("coldrec-resolve", settings)
    except Exception as exc:
        print(_RESOLVE_HINT.format(packages=", ".join(delta_packages()), ivy=settings.ivy_dir), file=sys.stderr)
        print(f"cause: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    version = spark.version
    spark.range(1).write.format("delta").mode("overwrite").save(os.path.join(settings.home, "resolve-check"))
    spark.stop()
    print(f"Spark {version} with Delta ready; jars cached in {settings.ivy_dir}")


if __name__ == "__main__":
    if "--resolve" in sys.argv:
        resolve_jars()
    else:
        print(__doc__)
