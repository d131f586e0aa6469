"""No import cycles between any two modules of vigil, found on the import graph itself.

The import-linter contracts (`make imports`) keep packages in layers and siblings acyclic; this
test looks at every module, so a circle inside one package (`engine.py` ↔ `snapshot.py`) fails
too. Imports made only for type checking count: they are cycles a refactoring would trip over.
"""

from __future__ import annotations

import importlib.util

import grimp


def _compiled(line: str) -> bool:
    """Whether an import line takes a compiled submodule through its package
    (`from vigil.detect.behaviour import _kernel`): grimp sees only the package there, but the
    package is not what is imported, and a submodule's package is imported before it anyway."""
    words = line.split()
    if len(words) != 4 or words[0] != "from" or words[2] != "import":
        return False
    try:
        spec = importlib.util.find_spec(f"{words[1]}.{words[3]}")
    except ImportError:  # words[1] is a module, not a package: a name from it
        return False
    return spec is not None and spec.origin is not None and not spec.origin.endswith(".py")


def _edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for importer in graph.modules:
        targets = set()
        for imported in graph.find_modules_directly_imported_by(importer):
            details = graph.get_import_details(importer=importer, imported=imported)
            if details and all(_compiled(d["line_contents"]) for d in details):
                continue
            targets.add(imported)
        edges[importer] = targets
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_circle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_vigil_is_in_an_import_cycle() -> None:
    graph = grimp.build_graph("vigil", cache_dir=None)
    assert len(graph.modules) > 100
    assert _cycles(_edges(graph)) == []
