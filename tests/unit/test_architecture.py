"""The layering of ``coldrec/`` (docs/architecture.md), enforced on the imports the code actually makes.

Walks every module's imports with ``ast`` (imports inside functions included) and checks four rules:

1. **Imports point down**: a module imports only modules of its own layer or of layers below it.
2. **No cycles** between modules (runtime imports; ``if TYPE_CHECKING:`` imports are annotations only).
3. **No import of a coldrec module inside a function**, which would hide an upward import or a cycle from a reader.
   The wiring layer (``cli``, ``commands``, ``tasks``, ``orchestration``) is the exception: it imports the stage it
   runs on call, so that ``coldrec --help`` and the DAG files' parsing do not load Spark, torch and MLflow.
   Lazy imports of heavy optional *third-party* packages are fine anywhere (with a comment saying so); the few
   coldrec imports that stand for one are listed in ``LAZY_ALLOWED`` with their reason.
4. **The ranking core** (``coldrec/ranking``, shared by ``recommend`` and ``evaluate``) imports only itself,
   ``config`` and ``data``; its leaves (the top-k API, the ranking metrics) import nothing else, and sit below the
   stages so that training validation ranks and measures with the same code.
5. **Short functions**: no function (``def`` line to its last line, nested functions counted in their parent) is
   longer than ``MAX_FUNCTION_LINES``, unless a comment in it says why it is long (``LONG_BECAUSE``, e.g.
   ``# Long because a typer command's signature is the list of its flags``).

The checker itself is tested on synthetic import graphs, so it is known to fail on an upward import, a cycle and a
function-level import.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "coldrec"

#: Layers from the ground up; a module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "ground",
        (
            "coldrec",  # the package's own __init__ (matches only itself)
            "coldrec.config",
            "coldrec.paths",
            "coldrec.lake",
            "coldrec.spark",
            "coldrec.delta_read",
            "coldrec.data.schemas",
        ),
    ),
    ("data", ("coldrec.data",)),
    # The ranking core's leaves (one top-k API and its backends, one set of ranking metrics) import no other
    # coldrec module, so the stages below the core may use them too (training validation ranks with them).
    ("ranking leaves", ("coldrec.ranking.topk_cpu", "coldrec.ranking.topk", "coldrec.ranking.metrics")),
    ("clean", ("coldrec.clean",)),
    ("interactions", ("coldrec.interactions",)),
    ("cf", ("coldrec.cf",)),
    ("features", ("coldrec.features",)),
    ("models", ("coldrec.models",)),
    # The ranking core (sources, blend, slots, filters, lists) that recommend and evaluate share.
    ("ranking", ("coldrec.ranking",)),
    ("recommend", ("coldrec.recommend",)),
    ("evaluate", ("coldrec.evaluate",)),
    ("publish", ("coldrec.publish", "coldrec.backtest", "coldrec.maintenance")),
    (
        "wiring",
        (
            "coldrec.tasks",
            "coldrec.backfill",
            "coldrec.cli",
            "coldrec.commands",
            "coldrec.orchestration",
            "coldrec.airflow_spark",
            "coldrec.local_airflow",
        ),
    ),
)

#: What the ranking core may import from coldrec besides itself: it must not depend on the stages (it ranks score
#: blocks, whoever computed them), so recommend and evaluate can feed it alike.
RANKING_MAY_IMPORT = ("coldrec.ranking", "coldrec.config", "coldrec.data")

#: Modules that may import coldrec modules inside functions (see rule 3).
LAZY_WIRING = ("coldrec.tasks", "coldrec.backfill", "coldrec.cli", "coldrec.commands", "coldrec.orchestration")

#: Other imports of a coldrec module inside a function, (importer, imported): why. A heavy optional dependency
#: only, never a cycle dodge.
LAZY_ALLOWED: dict[tuple[str, str], str] = {
    ("coldrec.recommend.nightly", "coldrec.models.tracking"): "mlflow + the torch models, optional for scoring",
    ("coldrec.recommend.nightly", "coldrec.features.loader"): "delta-rs, read only when a champion is loaded",
    ("coldrec.evaluate.dataset", "coldrec.data.loaders"): "the public data set loaders, by format",
}


#: Rule 5: the longest a function may be without saying why, and the marker of a comment that says why.
MAX_FUNCTION_LINES = 80
LONG_BECAUSE = "long because"


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                nodes.update(id(sub) for sub in ast.walk(stmt))
    return nodes


def _function_nodes(tree: ast.AST) -> set[int]:
    return {
        id(sub)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for sub in ast.walk(fn)
        if sub is not fn
    }


def module_imports(source: str, name: str, is_package: bool, modules: set[str]) -> list[Import]:
    """The coldrec modules ``name`` imports. ``from a import b`` names ``a.b`` when that is a module, else ``a``."""
    tree = ast.parse(source)
    in_function, type_only = _function_nodes(tree), _type_checking_nodes(tree)
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                targets.append(candidate if candidate in modules else base)
        for target in targets:
            if target == "coldrec" or target.startswith("coldrec."):
                resolved = target
                while resolved not in modules and "." in resolved:
                    resolved = resolved.rpartition(".")[0]
                found.append(Import(name, resolved, node.lineno, id(node) in in_function, id(node) in type_only))
    return found


def package_imports(root: Path) -> list[Import]:
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root.parent) for f in files}
    out: list[Import] = []
    for f in files:
        name = module_name(f, root.parent)
        out.extend(module_imports(f.read_text(), name, f.name == "__init__.py", modules))
    return [i for i in out if i.imported != i.importer]


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != "coldrec" and module.startswith(prefix + "."))
            if inside and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in tests/unit/test_architecture.py")
    return best


def upward_imports(imports: Iterable[Import]) -> list[str]:
    return [
        f"{i.importer}:{i.line} imports {i.imported} "
        f"({LAYERS[layer_of(i.importer)][0]} -> {LAYERS[layer_of(i.imported)][0]})"
        for i in imports
        if layer_of(i.imported) > layer_of(i.importer)
    ]


def cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), over runtime imports."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if not i.type_only:
            graph.setdefault(i.importer, set()).add(i.imported)
            graph.setdefault(i.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def hidden_imports(imports: Iterable[Import]) -> list[str]:
    return [
        f"{i.importer}:{i.line} imports {i.imported} inside a function"
        for i in imports
        if i.in_function
        and not any(i.importer == p or i.importer.startswith(p + ".") for p in LAZY_WIRING)
        and (i.importer, i.imported) not in LAZY_ALLOWED
    ]


def long_functions(source: str, name: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions of ``source`` longer than ``limit`` lines whose own lines hold no ``LONG_BECAUSE`` comment."""
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lower()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            length = end - node.lineno + 1
            justified = any(LONG_BECAUSE in comments.get(line, "") for line in range(node.lineno, end + 1))
            if length > limit and not justified:
                found.append(f"{name}:{node.lineno} {node.name} is {length} lines (> {limit})")
    return found


# ---------------------------------------------------------------------------------------------------------------
# The rules on coldrec/
# ---------------------------------------------------------------------------------------------------------------


@cache
def _coldrec() -> tuple[Import, ...]:
    return tuple(package_imports(PACKAGE))


def test_every_module_has_a_layer() -> None:
    for f in PACKAGE.rglob("*.py"):
        layer_of(module_name(f, ROOT))


def test_imports_point_down() -> None:
    assert upward_imports(_coldrec()) == []


def test_no_cycles_between_modules() -> None:
    assert cycles(_coldrec()) == []


def test_no_coldrec_import_hidden_in_a_function() -> None:
    assert hidden_imports(_coldrec()) == []


def test_the_ranking_core_imports_only_itself_config_and_data() -> None:
    wrong = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in _coldrec()
        if i.importer.startswith("coldrec.ranking")
        and not any(i.imported == p or i.imported.startswith(p + ".") for p in RANKING_MAY_IMPORT)
    ]
    assert wrong == []


def test_functions_are_short_or_say_why() -> None:
    found = [
        problem
        for f in sorted(PACKAGE.rglob("*.py"))
        for problem in long_functions(f.read_text(), str(f.relative_to(ROOT)))
    ]
    assert found == []


def test_lazy_allowances_are_still_needed() -> None:
    """An allowance whose import is gone must leave the list, so it cannot cover a new one later."""
    lazy = {(i.importer, i.imported) for i in _coldrec() if i.in_function}
    assert sorted(set(LAZY_ALLOWED) - lazy) == []


# ---------------------------------------------------------------------------------------------------------------
# The checker, on synthetic packages
# ---------------------------------------------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "coldrec"


def test_checker_finds_an_upward_import(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "coldrec/__init__.py": "",
            "coldrec/config.py": "",
            "coldrec/cf/__init__.py": "",
            "coldrec/cf/kernel.py": "from coldrec import config\n",
            "coldrec/recommend/__init__.py": "",
            "coldrec/recommend/nightly.py": (
                "from coldrec.cf import kernel\nfrom coldrec.evaluate.metrics import ndcg\n"
            ),
            "coldrec/evaluate/__init__.py": "",
            "coldrec/evaluate/metrics.py": "from coldrec.recommend import nightly\n\ndef ndcg():\n    pass\n",
        },
    )
    imports = package_imports(pkg)
    assert upward_imports(imports) == [
        "coldrec.recommend.nightly:2 imports coldrec.evaluate.metrics (recommend -> evaluate)"
    ]
    assert cycles(imports) == [["coldrec.evaluate.metrics", "coldrec.recommend.nightly"]]
    assert hidden_imports(imports) == []


def test_checker_finds_cycles_and_imports_hidden_in_functions(tmp_path: Path) -> None:
    pkg = _write(
        tmp_path,
        {
            "coldrec/__init__.py": "",
            "coldrec/models/__init__.py": "",
            "coldrec/models/api.py": "def train():\n    from coldrec.models.training import fit\n    return fit()\n",
            "coldrec/models/training.py": "from .api import train\n\ndef fit():\n    pass\n",
            "coldrec/models/scoring.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from coldrec.models.api import train\n"
            ),
            "coldrec/commands/__init__.py": "",
            "coldrec/commands/train.py": "def run():\n    from coldrec.models import api\n",
        },
    )
    imports = package_imports(pkg)
    assert upward_imports(imports) == []
    # the relative import resolves to coldrec.models.api; the TYPE_CHECKING one makes no runtime cycle
    assert cycles(imports) == [["coldrec.models.api", "coldrec.models.training"]]
    # the wiring layer may import on call; a stage may not
    assert hidden_imports(imports) == ["coldrec.models.api:2 imports coldrec.models.training inside a function"]


def test_checker_finds_long_functions_unless_they_say_why() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(5))
    source = (
        f"def short():\n{body}\n"
        f"def long_one():\n{body}{body}\n"
        f"def justified():\n    # Long because: a flat table of settings reads best in one place\n{body}{body}\n"
        f"def outer():\n    def inner():\n{body.replace('    ', '        ')}{body.replace('    ', '        ')}"
    )
    # limit 8: short (6 lines) passes; long_one (11) fails; justified says why; outer holds a long inner
    assert long_functions(source, "m.py", limit=8) == [
        "m.py:8 long_one is 11 lines (> 8)",
        "m.py:33 outer is 12 lines (> 8)",
        "m.py:34 inner is 11 lines (> 8)",
    ]


def test_checker_requires_a_layer_for_every_module() -> None:
    try:
        layer_of("coldrec.somewhere_new")
    except AssertionError as exc:
        assert "belongs to no layer" in str(exc)
    else:  # pragma: no cover - the assertion above is the point
        raise AssertionError("an unknown module was given a layer")
