"""The import graph of ``nascore`` and ``data_prep`` keeps its layers.

Layers, lowest first: ``data_prep`` < core (``nascore``'s top-level modules) < ``proxies`` /
``plots`` < ``search`` / ``seg`` < ``bench`` < ``experiments``. Every import is read from the
source (module level *and* inside functions; ``if TYPE_CHECKING:`` blocks, which never run,
are left out), and:

* no module imports a higher layer, nor a peer of its own layer (proxies and plots, search and
  seg stay apart);
* the graph has no cycle, function-local imports included (a cycle hidden in a function is
  still a cycle);
* a function-local import of a project module is there only to keep a heavy library lazy: its
  target imports torch, MONAI, matplotlib or Dask at module level (itself or through what it
  imports), so that ``import nascore.space`` stays light; anything else is imported at the top;
* the modules that encode architectures import no torch, even indirectly.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nascore", "data_prep")
HEAVY = {"torch", "monai", "matplotlib", "dask", "distributed"}
LAYERS = {"proxies": 2, "plots": 2, "search": 3, "seg": 3, "bench": 4, "experiments": 5}
#: Modules that encode architectures (the search space): torch-free by design.
ENCODING = ("nascore.arch", "nascore.block_types", "nascore.decisions", "nascore.space",
            "nascore.registry", "nascore.bench.nb201")


def _modules() -> Dict[str, Path]:
    mods = {}
    for base in PACKAGES:
        for p in (ROOT / base).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


MODS = _modules()


def _owner(name: str) -> str:
    """The project module ``name`` lives in ('' if it is not the project's)."""
    while name and name not in MODS:
        name = name.rpartition(".")[0]
    return name


def _targets(mod: str, node, is_pkg: bool) -> List[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
        pkg = pkg[:len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODS else base for a in node.names]


Edge = Tuple[str, str, bool, int]  # (importer, imported, inside a function, line)


def _edges() -> Tuple[List[Edge], Dict[str, Set[str]]]:
    """Project-internal import edges, and each module's top-level third-party roots."""
    edges: List[Edge] = []
    external: Dict[str, Set[str]] = collections.defaultdict(set)
    for mod, path in MODS.items():
        is_pkg = path.name == "__init__.py"

        def visit(body, in_func: bool) -> None:
            for n in body:
                if isinstance(n, (ast.Import, ast.ImportFrom)):
                    for t in _targets(mod, n, is_pkg):
                        owner = _owner(t)
                        if owner and owner != mod:
                            edges.append((mod, owner, in_func, n.lineno))
                        elif not owner and not in_func:
                            external[mod].add(t.split(".")[0])
                if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
                    visit(n.orelse, in_func)
                    continue
                for field in ("body", "orelse", "finalbody", "handlers"):
                    sub = getattr(n, field, None)
                    if isinstance(sub, list):
                        visit(sub, in_func or isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))

        visit(ast.parse(path.read_text()).body, False)
    return edges, external


EDGES, EXTERNAL = _edges()


def layer(mod: str) -> Tuple[int, str]:
    """``(rank, group)`` of a module: its layer and the sub-package that is its group."""
    parts = mod.split(".")
    if parts[0] == "data_prep":
        return 0, "data_prep"
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS[parts[1]], parts[1]
    return 1, "core"


def _top_level_closure(mod: str) -> Set[str]:
    """``mod`` and every project module its module-level imports run (parent packages too)."""
    top = collections.defaultdict(set)
    for a, b, in_func, _ in EDGES:
        if not in_func:
            top[a].add(b)
    seen, todo = set(), [mod]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODS)
        todo.extend(top[m])
    return seen


def _heavy(mod: str) -> bool:
    return any(EXTERNAL[m] & HEAVY for m in _top_level_closure(mod))


def test_the_scan_sees_the_package():
    assert {"nascore.space", "nascore.proxies.base", "data_prep.records"} <= set(MODS)
    assert ("nascore.proxies.base", "nascore.registry", False) in {e[:3] for e in EDGES}
    assert layer("nascore.seg.train") == (3, "seg") and layer("nascore.cost") == (1, "core")


def test_no_upward_or_sideways_import():
    bad = []
    for a, b, in_func, line in EDGES:
        (ra, ga), (rb, gb) = layer(a), layer(b)
        if rb > ra or (rb == ra and ra in (2, 3) and ga != gb):
            bad.append(f"{a}:{line} imports {b} ({gb} is above or beside {ga})"
                       + (" inside a function" if in_func else ""))
    assert not bad, "\n".join(bad)


def _cycles() -> List[List[str]]:
    graph = collections.defaultdict(set)
    for a, b, _, _ in EDGES:
        graph[a].add(b)
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(MODS):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycle():
    cycles = _cycles()
    detail = [" <-> ".join(c) + ": " + "; ".join(
        f"{a}:{line} -> {b}" for a, b, _, line in EDGES if a in c and b in c) for c in cycles]
    assert not cycles, "\n".join(detail)


def test_function_local_imports_only_keep_heavy_libraries_lazy():
    bad = sorted({f"{a}:{line} imports {b} inside a function, but {b} is light: import it at "
                  "the top" for a, b, in_func, line in EDGES if in_func and not _heavy(b)})
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("mod", ENCODING)
def test_architecture_encodings_import_no_torch(mod):
    assert mod in MODS
    heavy = {m: sorted(EXTERNAL[m] & HEAVY) for m in _top_level_closure(mod) if EXTERNAL[m] & HEAVY}
    assert not heavy, f"{mod} pulls in {heavy}"


def test_data_prep_imports_no_nascore():
    assert not [e for e in EDGES if e[0].startswith("data_prep") and e[1].startswith("nascore")]
