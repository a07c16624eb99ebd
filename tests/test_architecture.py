"""The layering of the ranking code, read from the source: the ranking core under both ``recommend`` and ``evaluate``.

Rules (docs: ``coldrec/ranking/__init__.py``):
- ``coldrec.ranking`` imports neither ``coldrec.recommend`` nor ``coldrec.evaluate`` (nor the layers above them);
  of the layers below, only ``config`` and ``data``;
- ``coldrec.recommend`` (what is published) never imports ``coldrec.evaluate`` (what measures it); ``evaluate``
  may import ``recommend``;
- the ranking leaves (``topk_cpu``, ``topk``, ``metrics``) import no other coldrec module, so the layers below
  (training validation in ``coldrec.models``) may use them; nothing else below the ranking core imports it;
- no import cycle among the modules of these three packages, and no coldrec import hidden inside a function unless
  it is listed below with its reason (a heavy optional dependency, never a cycle dodge).

Scoped to these packages; a repository-wide layering test may extend the same walk.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "coldrec"
MINE = ("coldrec.ranking", "coldrec.recommend", "coldrec.evaluate")
LEAVES = ("coldrec.ranking.topk_cpu", "coldrec.ranking.topk", "coldrec.ranking.metrics")
#: what the ranking core may import from coldrec, besides itself
RANKING_MAY_IMPORT = ("coldrec.config", "coldrec.data")
#: the layers above the ranking core (and everything that wires): the core never imports them
ABOVE_RANKING = ("coldrec.recommend", "coldrec.evaluate", "coldrec.tasks", "coldrec.cli", "coldrec.commands",
                 "coldrec.publish", "coldrec.orchestration")  # fmt: skip
#: the layers below the ranking core: they may import only its leaves
BELOW_RANKING = ("coldrec.config", "coldrec.paths", "coldrec.lake", "coldrec.spark", "coldrec.delta_read",
                 "coldrec.data", "coldrec.clean", "coldrec.interactions", "coldrec.cf", "coldrec.features",
                 "coldrec.models")  # fmt: skip
#: function-level coldrec imports allowed in the three packages, (importer, imported): why
LAZY_ALLOWED = {
    ("coldrec.recommend.nightly", "coldrec.models.tracking"): "mlflow + the torch models, optional for scoring",
    ("coldrec.recommend.nightly", "coldrec.features.loader"): "delta-rs, read only when a champion is loaded",
    ("coldrec.evaluate.dataset", "coldrec.data"): "the public data set loaders, by format",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported coldrec module, at module level?) for every import of ``path`` (``from a import b`` yields
    ``a.b`` when that is a module, else ``a``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under a module-level ``if TYPE_CHECKING:`` / ``try:`` count as module level
        if isinstance(node, ast.If | ast.Try):
            top_level |= {id(n) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if _exists(f"{node.module}.{a.name}") else node.module
                     for a in node.names]  # fmt: skip
        out += [(n, id(node) in top_level) for n in names if n == "coldrec" or n.startswith("coldrec.")]
    return out


def _exists(module: str) -> bool:
    base = ROOT.parent / Path(*module.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _within(m, ("coldrec.ranking",))))
def test_the_ranking_core_imports_only_itself_config_and_data(module: str):
    allowed = ("coldrec.ranking", *RANKING_MAY_IMPORT)
    wrong = [m for m, _ in GRAPH[module] if not _within(m, allowed) or _within(m, ABOVE_RANKING)]
    assert not wrong, f"{module} imports {wrong}"
    if module in LEAVES:
        other = [m for m, _ in GRAPH[module] if not _within(m, LEAVES)]
        assert not other, f"the leaf {module} imports {other}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _within(m, ("coldrec.recommend",))))
def test_what_is_published_never_imports_what_measures_it(module: str):
    wrong = [m for m, _ in GRAPH[module] if _within(m, ("coldrec.evaluate", "coldrec.tasks", "coldrec.cli",
                                                         "coldrec.commands", "coldrec.publish"))]  # fmt: skip
    assert not wrong, f"{module} imports {wrong}"


def test_layers_below_the_ranking_core_use_only_its_leaves():
    wrong = {
        module: bad
        for module in MODULES
        if _within(module, BELOW_RANKING)
        and (bad := [m for m, _ in GRAPH[module] if _within(m, MINE) and m not in LEAVES and m != "coldrec.ranking"])
    }
    assert not wrong, f"upward imports into the ranking / recommend / evaluate packages: {wrong}"


def test_no_cycles_and_no_hidden_imports_in_the_ranking_packages():
    mine = {m for m in MODULES if _within(m, MINE)}
    hidden = [(m, dep) for m in sorted(mine) for dep, top in GRAPH[m] if not top
              and not any(_within(dep, (allowed,)) for imp, allowed in LAZY_ALLOWED if imp == m)]  # fmt: skip
    assert not hidden, f"coldrec imports inside functions (a cycle dodge?): {hidden}"
    edges = {m: sorted({d for d, _ in GRAPH[m] if d in mine and d != m}) for m in mine}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(mine):
        if module not in state:
            visit(module, [module])


def test_the_walk_sees_an_upward_import(tmp_path: Path):
    """The checks read real imports: a made-up module importing upward is caught by the same parser."""
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\n\ndef f():\n    from coldrec.evaluate.harness import rank\n"
                   "from coldrec.ranking.lists import Ranker\n")  # fmt: skip
    found = _imports(bad)
    assert ("coldrec.evaluate.harness", False) in found and ("coldrec.ranking.lists", True) in found
    assert _within("coldrec.evaluate.harness", ABOVE_RANKING) and "coldrec.ranking.lists" not in LEAVES
