"""Build-time step of docker/Dockerfile: bake every jar a cluster run needs into the image, then prove they load.

1. Delta Lake: ``python -m coldrec.spark --resolve`` into ``COLDREC_IVY_DIR``, the Ivy cache that
   ``spark-submit --packages`` (what the DAGs' SparkSubmitOperator passes) and ``coldrec.spark.build_spark`` read,
   so no task downloads anything at run time and concurrent tasks never race on ``~/.ivy2``.
2. s3a: ``org.apache.hadoop:hadoop-aws`` at exactly the Hadoop version bundled in pyspark (with its AWS SDK bundle),
   resolved by Spark's own Ivy and copied into ``$SPARK_HOME/jars``: every JVM of the cluster (the client-mode
   driver in a Celery worker, the master, the workers and their executors) runs from this image, so ``s3a://`` works
   everywhere without a ``--packages`` or ``--jars`` flag.
3. Check: a fresh local session loads ``S3AFileSystem`` and round-trips a Delta table.

Each step runs in its own Python process because a JVM's classpath is fixed when it starts.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

S3A_CLASS = "org.apache.hadoop.fs.s3a.S3AFileSystem"


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def bundled_hadoop_version(jars_dir: Path | None = None) -> str:
    """The Hadoop version pyspark ships (from ``hadoop-client-api-<version>.jar``): hadoop-aws must match it."""
    jars_dir = jars_dir or spark_home() / "jars"
    versions = sorted(
        m.group(1)
        for p in jars_dir.glob("hadoop-client-api-*.jar")
        if (m := re.fullmatch(r"hadoop-client-api-(.+)\.jar", p.name))
    )
    if len(versions) != 1:
        raise RuntimeError(f"expected one hadoop-client-api jar in {jars_dir}, found {versions}")
    return versions[0]


def _run_python(code: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **(env or {})})


def resolve_delta() -> None:
    subprocess.run([sys.executable, "-m", "coldrec.spark", "--resolve"], check=True)


def resolve_packages(coordinates: list[str], ivy_dir: Path) -> list[Path]:
    """Resolve Maven coordinates (with their dependencies) through Spark's Ivy; return the jar files."""
    code = (
        "from pyspark.sql import SparkSession\n"
        "s = (SparkSession.builder.master('local[1]').appName('coldrec-bake')"
        f".config('spark.jars.packages', {','.join(coordinates)!r})"
        f".config('spark.jars.ivy', {str(ivy_dir)!r}).config('spark.ui.enabled', 'false').getOrCreate())\n"
        "s.stop()\n"
    )
    _run_python(code)
    return sorted((ivy_dir / "jars").glob("*.jar"))


def install_jars(jars: list[Path], target: Path) -> list[Path]:
    """Copy jars into ``target``, skipping an artifact the target already holds in another version (one copy of a
    class on the classpath)."""
    present = {_artifact(p.name) for p in target.glob("*.jar")}
    copied = []
    for jar in jars:
        name = jar.name.split("_", 1)[-1] if "_" in jar.name else jar.name  # Ivy names jars <org>_<artifact>-<v>.jar
        if _artifact(name) in present:
            print(f"skip {jar.name}: {target} already has {_artifact(name)}")
            continue
        shutil.copy2(jar, target / name)
        copied.append(target / name)
    return copied


def _artifact(filename: str) -> str:
    return re.sub(r"-\d[\w.+-]*\.jar$", "", filename)


def check(classes: list[str]) -> None:
    """A fresh coldrec session (Delta configured) loads the classes and round-trips a Delta table."""
    code = (
        "import tempfile\n"
        "from coldrec.config import load_settings\n"
        "from coldrec.spark import build_spark\n"
        "spark = build_spark('coldrec-bake-check', load_settings({'spark_master': 'local[1]'}))\n"
        f"for name in {classes!r}:\n"
        "    spark._jvm.java.lang.Class.forName(name)\n"
        "    print('loaded', name)\n"
        "path = tempfile.mkdtemp() + '/t'\n"
        "spark.range(3).write.format('delta').save(path)\n"
        "assert spark.read.format('delta').load(path).count() == 3\n"
        "print('Delta round trip ok')\n"
        "spark.stop()\n"
    )
    _run_python(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hadoop-aws", default="", help="hadoop-aws version (default: pyspark's bundled Hadoop)")
    parser.add_argument("--extra-package", action="append", default=[], help="more Maven coordinates to bake in")
    parser.add_argument("--jars-dir", type=Path, default=None, help="where to copy the jars (default: SPARK_HOME/jars)")
    parser.add_argument("--no-s3a", action="store_true", help="skip hadoop-aws (a lake that is not on S3)")
    parser.add_argument("--check-class", action="append", default=[], help="class that must load afterwards")
    args = parser.parse_args(argv)

    resolve_delta()
    target = args.jars_dir or spark_home() / "jars"
    packages = list(args.extra_package)
    classes = list(args.check_class)
    if not args.no_s3a:
        version = args.hadoop_aws or bundled_hadoop_version()
        packages.insert(0, f"org.apache.hadoop:hadoop-aws:{version}")
        classes.insert(0, S3A_CLASS)
    if packages:
        with tempfile.TemporaryDirectory(prefix="coldrec-ivy-") as ivy:
            jars = resolve_packages(packages, Path(ivy))
            copied = install_jars(jars, target)
            print(f"baked {len(copied)} jars into {target}: {', '.join(p.name for p in copied)}")
    if target == spark_home() / "jars":
        check(classes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
