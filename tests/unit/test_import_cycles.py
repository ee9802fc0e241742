"""No import cycles among GradAtlas's own modules.

The graph is read from the source with `ast`, not from a running interpreter,
so an import inside a function (a lazy import) counts as much as one at the
top: a cycle hidden in a function still means two modules that cannot be
understood, tested or moved apart. An edge goes to the module as written:
`import a.b` and `from a import b` (b a submodule) point at `a.b`; `from a import
name` (not a submodule) points at the package `a` itself. The parent packages
that Python runs on the way are not edges, or every module would sit in a cycle
with `gradatlas/__init__.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

# The installed name of each folder (setup.py's package_dir mapping).
FOLDERS = {"gradatlas": "gradatlas", "service": "gradatlas.service", "worker": "gradatlas.worker",
           "migrations": "gradatlas.migrations"}

Graph = dict[str, set[str]]


def module_files(root: Path) -> dict[str, Path]:
    """Every module's installed dotted name and its file."""
    files = {}
    for folder, package in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join([package, *parts])] = path
    return files


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The package a `from … import` reads from, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `module` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in known else source)
    return {target for target in targets if target in known and target != module}


def import_graph(root: Path) -> Graph:
    files = module_files(root)
    known = set(files)
    return {module: imports_of(module, path, known) for module, path in files.items()}


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module
    (Tarjan's algorithm, then a shortest path back to the start inside it)."""
    return [_shortest_cycle(graph, min(component), component) for component in _sorted_components(graph)]


def _sorted_components(graph: Graph) -> list[set[str]]:
    return sorted(_components(graph), key=min)


def _components(graph: Graph) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _shortest_cycle(graph: Graph, start: str, component: set[str]) -> list[str]:
    """Breadth-first from `start` back to itself, staying inside its component."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in a component but on no cycle")


def test_no_module_takes_part_in_an_import_cycle():
    graph = import_graph(ROOT)
    report = [f"{' -> '.join(cycle)}  (tangled together: {', '.join(sorted(component))})"
              for cycle, component in zip(find_cycles(graph), _sorted_components(graph), strict=True)]
    assert not report, "import cycles:\n" + "\n".join(report)


def _write(root: Path, files: dict[str, str]) -> None:
    for name in FOLDERS:
        (root / name).mkdir(exist_ok=True)
        (root / name / "__init__.py").touch()
    for relative, source in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(source)


def test_the_graph_reads_every_kind_of_import(tmp_path):
    """Guards the reader: a graph that missed lazy or relative imports would pass vacuously."""
    _write(tmp_path, {"worker/pkg/__init__.py": "from .one import thing\n",
                      "worker/pkg/one.py": "def f():\n    import gradatlas.worker.pkg.two\n",
                      "worker/pkg/two.py": "from . import three\nfrom gradatlas.worker.pkg import helper\n",
                      "worker/pkg/three.py": "from ..top import name\nimport json\n",
                      "worker/top.py": "", "gradatlas/__init__.py": "from gradatlas.worker import top\n"})
    assert import_graph(tmp_path) == {
        "gradatlas": {"gradatlas.worker.top"}, "gradatlas.service": set(), "gradatlas.migrations": set(),
        "gradatlas.worker": set(), "gradatlas.worker.top": set(),
        "gradatlas.worker.pkg": {"gradatlas.worker.pkg.one"},
        "gradatlas.worker.pkg.one": {"gradatlas.worker.pkg.two"},  # a function-level import
        "gradatlas.worker.pkg.two": {"gradatlas.worker.pkg.three", "gradatlas.worker.pkg"},
        "gradatlas.worker.pkg.three": {"gradatlas.worker.top"},
    }


def test_the_whole_tree_is_read():
    graph = import_graph(ROOT)
    assert {"gradatlas.migrations.env", "gradatlas.worker.engine.rnn", "gradatlas.service.store.gateway"} <= set(graph)
    assert "gradatlas.service.client" in graph["gradatlas"]


@pytest.mark.parametrize("files, expected", [
    pytest.param({"worker/a.py": "from gradatlas.worker import b\n",
                  "worker/b.py": "def f():\n    from gradatlas.worker.a import x\n"},
                 ["gradatlas.worker.a", "gradatlas.worker.b", "gradatlas.worker.a"], id="lazy-import"),
    pytest.param({"service/pkg/__init__.py": "from .one import thing\n",
                  "service/pkg/one.py": "from gradatlas.service.pkg import other\n",
                  "service/pkg/other.py": "import gradatlas.service.pkg.one\n"},
                 ["gradatlas.service.pkg.one", "gradatlas.service.pkg.other", "gradatlas.service.pkg.one"], id="submodules"),
    pytest.param({"service/pkg/__init__.py": "from gradatlas.service.pkg.one import thing\n",
                  "service/pkg/one.py": "from gradatlas.service.pkg import helper\n"},
                 ["gradatlas.service.pkg", "gradatlas.service.pkg.one", "gradatlas.service.pkg"], id="through-the-package"),
])
def test_a_deliberate_cycle_is_found_and_named(tmp_path, files, expected):
    _write(tmp_path, files)
    assert find_cycles(import_graph(tmp_path)) == [expected]


def test_a_chain_without_a_way_back_is_no_cycle(tmp_path):
    _write(tmp_path, {"service/pkg/__init__.py": "from .one import thing\n",
                      "service/pkg/one.py": "from gradatlas.service.pkg import two\n",
                      "service/pkg/two.py": "import gradatlas.worker.x\n",
                      "worker/x.py": "import gradatlas\n", "gradatlas/__init__.py": "import json\n"})
    assert find_cycles(import_graph(tmp_path)) == []
