"""The layers and their arrows (docs/design.md, "Layers"), checked by walking every import.

runstore is at the bottom and imports neither package; analysis imports runstore and never
scaling; scaling's training code (train/) never reaches up into the sweep (sweep/); and no two
modules import each other, directly or around a loop. Imports inside functions count too: a
lazy import is still an arrow.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runstore", "scaling", "analysis")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the suite's modules it imports (package-level names resolved to modules)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        out: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for blk in ast.walk(tree) if isinstance(blk, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(blk.test)
                       for stmt in blk.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:  # annotations only: never executed, not an arrow
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for t in targets:
                while t and t not in files:  # `from pkg import name`: the package module
                    t = t.rpartition(".")[0]
                if t and t != mod and t.split(".")[0] in PACKAGES:
                    out.add(t)
        graph[mod] = out
    return graph


def _violations(graph, src_prefix: str, dst_prefix: str) -> list[str]:
    return sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts
                  if (m == src_prefix or m.startswith(src_prefix + "."))
                  and (t == dst_prefix or t.startswith(dst_prefix + ".")))


def test_runstore_imports_neither_package():
    graph = import_graph()
    assert _violations(graph, "runstore", "scaling") == []
    assert _violations(graph, "runstore", "analysis") == []


def test_analysis_never_imports_scaling():
    assert _violations(import_graph(), "analysis", "scaling") == []


def test_train_never_imports_sweep():
    assert _violations(import_graph(), "scaling.train", "scaling.sweep") == []


def test_no_import_cycle():
    graph = import_graph()
    # the package __init__ files re-export their children: an arrow from a child to its own
    # package's __init__ is the child using the package's public name, not a cycle of modules
    index, low, stack, on, cycles, n = {}, {}, [], set(), [], [0]

    def strong(v):  # Tarjan's strongly connected components
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w in graph and not v.startswith(w + "."):
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
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    assert cycles == []


def test_the_walker_sees_lazy_and_relative_imports(tmp_path):
    """The walker is not blind: the graph holds a known lazy import and a known package edge."""
    graph = import_graph()
    assert "runstore.errors" in graph["runstore.files"]
    assert any(t.startswith("runstore") for t in graph["analysis.load"])
