"""pyproject.toml declares what the package imports, so `pip install .` alone gives a working coldrec.

Two checks, both cheap (no venv is built, nothing is downloaded):

* **static**: every third-party module that ``coldrec/`` imports (ast walk, imports inside functions included) comes
  from a distribution that pyproject declares by name: in ``dependencies`` for a module-level import, in
  ``dependencies`` or an extra for an import inside a function (the lazy, optional ones);
* **dynamic**: a fresh interpreter imports ``coldrec.cli`` and every module of ``coldrec`` while an import hook
  refuses any module shipped by an installed distribution that is *not* in the dependency closure of pyproject's
  ``dependencies`` (requirements followed through the installed metadata, markers evaluated). That is the module
  set a venv built from pyproject alone would hold at the versions of the lock, so an undeclared module-level
  dependency fails here as it would after `pip install .`. Modules in ``EXTRA_ONLY`` (DAG helpers that need
  Airflow, the ``airflow`` extra) are left out of that import and checked against their extra instead.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "coldrec"
#: Modules usable only with an extra installed, (module file): extra. Only the DAG files import them.
EXTRA_ONLY = {"coldrec/airflow_spark.py": "airflow"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def third_party_imports(package: Path) -> dict[str, dict[str, bool]]:
    """{top-level module: {file: imported inside a function}} for every absolute import outside coldrec."""
    found: dict[str, dict[str, bool]] = {}
    stdlib = sys.stdlib_module_names
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        nested = {
            id(sub)
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            for sub in ast.walk(fn)
            if sub is not fn
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top in stdlib or top == "coldrec" or top == "__future__":
                    continue
                lazy = id(node) in nested
                per_file = found.setdefault(top, {})
                rel = str(path.relative_to(package.parent))
                per_file[rel] = per_file.get(rel, True) and lazy
    return found


@cache
def _module_distributions() -> dict[str, set[str]]:
    return {mod: {canonicalize_name(d) for d in dists} for mod, dists in md.packages_distributions().items()}


def dependency_closure(requirements: list[str]) -> set[str]:
    """Canonical names of the distributions installing ``requirements`` pulls in (this environment's metadata)."""
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        env = {**default_environment(), "extra": extra}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        first = name not in seen
        seen.add(name)
        try:
            requires = md.requires(req.name) or []
        except md.PackageNotFoundError:
            continue
        for wanted_extra in ["", *sorted(req.extras)] if first else sorted(req.extras):
            for sub in requires:
                sub_req = Requirement(sub)
                if wanted_extra == "" and sub_req.marker is not None and "extra" in str(sub_req.marker):
                    continue
                todo.append((sub_req, wanted_extra))
    return seen


def test_every_imported_distribution_is_declared() -> None:
    project = _project()
    core = _names(project["dependencies"])
    extras = set().union(*(_names(r) for r in project.get("optional-dependencies", {}).values()))
    dists = _module_distributions()
    missing = []
    extra_only = {f: _names(project["optional-dependencies"][x]) for f, x in EXTRA_ONLY.items()}
    for module, files in third_party_imports(PACKAGE).items():
        providers = dists.get(module)
        assert providers, f"{module} (imported by {sorted(files)}) is not installed in this environment"
        eager = [f for f, lazy in files.items() if not lazy]
        allowed = core if eager else core | extras
        if eager and all(f in extra_only for f in eager):
            allowed = core | set().union(*(extra_only[f] for f in eager))
        if not providers & allowed:
            where = "dependencies" if allowed is core else "dependencies or an extra"
            missing.append(f"{module} ({'/'.join(sorted(providers))}) from {sorted(files)[:2]}: not in {where}")
    assert not missing, "undeclared imports:\n" + "\n".join(missing)


def test_the_walker_sees_imports_inside_functions(tmp_path: Path) -> None:
    pkg = tmp_path / "coldrec"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "import numpy as np\nfrom coldrec import x\n\ndef f():\n    import implicit.cpu\n    from scipy import sparse\n"
        "import scipy\n"
    )
    found = third_party_imports(pkg)
    assert found == {
        "numpy": {"coldrec/m.py": False},
        "implicit": {"coldrec/m.py": True},
        "scipy": {"coldrec/m.py": False},
    }


def test_the_closure_follows_requirements_and_their_extras() -> None:
    closure = dependency_closure(["pydantic-settings"])
    assert {"pydantic-settings", "pydantic", "pydantic-core", "typing-extensions"} <= closure
    assert "torch" not in closure


_IMPORT_ALL = r"""
import importlib, importlib.abc, importlib.metadata as md, json, pkgutil, sys
allowed = set(json.loads(sys.argv[1]))
def canon(name): return name.lower().replace("_", "-").replace(".", "-")
owners = {m: {canon(d) for d in ds} for m, ds in md.packages_distributions().items()}
blocked = []
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in owners and top != "coldrec" and not owners[top] & allowed:
            blocked.append(top)
            raise ModuleNotFoundError(f"No module named {fullname!r} (not in pyproject's dependency closure)")
        return None
sys.meta_path.insert(0, Refuse())
import coldrec, coldrec.cli
failed = {}
skip = set(json.loads(sys.argv[2]))
for info in pkgutil.walk_packages(coldrec.__path__, "coldrec."):
    if info.name in skip:
        continue
    try:
        importlib.import_module(info.name)
    except ImportError as exc:
        failed[info.name] = str(exc)
print(json.dumps({"failed": failed, "blocked": sorted(set(blocked))}))
"""


def _extra_only_modules() -> list[str]:
    return sorted(f.removesuffix(".py").replace("/", ".") for f in EXTRA_ONLY)


def test_coldrec_imports_with_only_pyproject_dependencies() -> None:
    closure = dependency_closure(_project()["dependencies"])
    # The checker must be able to refuse something, or the test could not fail: the baselines extra is outside.
    assert "implicit" not in closure and "cornac" not in closure
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, json.dumps(sorted(closure)), json.dumps(_extra_only_modules())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}, result


def test_the_import_hook_refuses_an_undeclared_distribution() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _IMPORT_ALL.replace("import coldrec, coldrec.cli", "import coldrec; import rich"),
            json.dumps(["numpy"]),
            "[]",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode != 0 and "not in pyproject's dependency closure" in out.stderr
