"""No import cycle among swapbn's modules (a static check of every module's import statements).

Each module under src/swapbn is parsed with `ast`; every `import` and `from ... import`, at the
top level and inside functions and classes, is an edge to the swapbn module it loads. Imports
under `if TYPE_CHECKING:` are left out: they never run. The module graph must be acyclic (every
strongly connected component a single module); a failure names each cycle with the file and line
of every import in it.

What counts as an edge from module A:
- `import p.q.m` and `from p.q.m import name` (name not a submodule): p.q.m;
- `from p.q import m` where p.q.m is a module: p.q.m;
- and in both cases each package above the target that is not already a package above A, since
  importing p.q.m runs p/__init__.py and p/q/__init__.py first. The packages above A are left
  out: they are being imported already when A runs, so A's import of them is not a new edge
  (a package's __init__ that imports its own submodules is not a cycle). An explicit import of a
  name from a package above A (`from swapbn.data import load_dataset` inside swapbn.data.x)
  is an edge, since it needs that package's __init__ to have run.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "swapbn"


def module_files(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module and package of `package` under `src`."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import / ImportFrom node of `tree` except those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # the else branch runs
            continue
        stack.extend(ast.iter_child_nodes(node))


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def module_imports(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The modules of `modules` that module `name` (file `path`) imports: {module: first line}."""
    # The package relative imports start from: the module itself for a package's __init__.
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    above = set(_ancestors(name))
    edges: dict[str, int] = {}

    def add(target: str, line: int, explicit: bool) -> None:
        if target in modules and target != name and (explicit or target not in above):
            edges.setdefault(target, line)

    for node in _imports(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [(alias.name, None) for alias in node.names]
        else:
            if node.level:
                base = here[:len(here) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [(origin, alias.name) for alias in node.names]
        for origin, member in targets:
            submodule = f"{origin}.{member}" if member else None
            if submodule in modules:
                # `from p import m` runs p/__init__.py first: implicit unless p is above us
                add(origin, node.lineno, explicit=False)
                target = submodule
            else:
                target = origin
            add(target, node.lineno, explicit=True)
            for parent in _ancestors(target):
                add(parent, node.lineno, explicit=False)
    return edges


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Module -> {module it imports: line of the first such import}, within `modules`."""
    return {name: module_imports(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """One shortest cycle through the first module of a strongly connected component."""
    start, members = component[0], set(component)
    previous = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child in members and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{component} is not strongly connected")


def describe_cycles(graph: dict[str, dict[str, int]], modules: dict[str, Path]) -> list[str]:
    """One line per import cycle: `a (a.py:3) -> b (b.py:10) -> a`; empty when acyclic."""
    root = Path(modules[min(modules, key=len)]).parents[1]  # the folder holding the package
    lines = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = a_cycle(graph, component)
        steps = [f"{a} ({modules[a].relative_to(root)}:{graph[a][b]})"
                 for a, b in zip(cycle[:-1], cycle[1:], strict=True)]
        lines.append(" -> ".join([*steps, cycle[-1]])
                     + f"   [{len(component)} modules in the component: {', '.join(component)}]")
    return lines


# --- the check on swapbn --------------------------------------------------------------------

def test_swapbn_has_no_import_cycle():
    modules = module_files()
    assert len(modules) > 50 and "swapbn.data" in modules and "swapbn.cli" in modules
    cycles = describe_cycles(import_graph(modules), modules)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# --- the check itself finds what it should ----------------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = tmp_path / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return module_files(tmp_path, "pkg")


def test_finds_a_cycle_through_a_function_level_import(tmp_path):
    modules = _tree(tmp_path, {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": "import os\n\ndef f():\n    from pkg.c import g\n    return g\n",
        "c.py": "from .a import x\n",
    })
    graph = import_graph(modules)
    assert graph["pkg.a"] == {"pkg.b": 1} and graph["pkg.b"] == {"pkg.c": 4}
    assert graph["pkg.c"] == {"pkg.a": 1}
    (line,) = describe_cycles(graph, modules)
    assert line.startswith("pkg.a (") and "pkg/b.py:4" in line and line.count("->") == 3


def test_type_checking_imports_and_package_inits_are_not_cycles(tmp_path):
    modules = _tree(tmp_path, {
        "__init__.py": "from .sub import thing\n",
        "sub/__init__.py": "from .impl import thing\n",
        "sub/impl.py": ("from typing import TYPE_CHECKING\nfrom ..base import B\n"
                        "from pkg.sub.helper import h\n"
                        "if TYPE_CHECKING:\n    from pkg.user import U\nelse:\n    pass\n"),
        "sub/helper.py": "h = 1\n",
        "base.py": "B = 1\n",
        "user.py": "from pkg.sub import thing\n",
    })
    graph = import_graph(modules)
    assert graph["pkg.sub.impl"] == {"pkg.base": 2, "pkg.sub.helper": 3}
    assert graph["pkg.user"] == {"pkg.sub": 1}
    assert describe_cycles(graph, modules) == []


def test_a_name_from_the_own_package_init_is_a_cycle(tmp_path):
    modules = _tree(tmp_path, {
        "__init__.py": "",
        "data/__init__.py": "from .registry import load\n",
        "data/registry.py": "from .cifar import read\n\ndef load():\n    pass\n",
        "data/cifar.py": "from pkg.data import load\n",  # back through data/__init__
    })
    graph = import_graph(modules)
    (line,) = describe_cycles(graph, modules)
    assert "pkg.data.cifar" in line and "pkg.data.registry" in line
    # importing a sibling module directly instead is no cycle
    (tmp_path / "pkg" / "data" / "cifar.py").write_text("def read():\n    from .splits import s\n")
    assert describe_cycles(import_graph(modules), modules) == []


def test_importing_another_packages_module_runs_that_packages_init(tmp_path):
    modules = _tree(tmp_path, {
        "__init__.py": "",
        "a/__init__.py": "from pkg.b.y import Y\n",
        "a/x.py": "X = 1\n",
        "b/__init__.py": "",
        "b/y.py": "import pkg.a.x\nY = 1\n",  # runs pkg/a/__init__.py, which imports b.y
    })
    graph = import_graph(modules)
    assert set(graph["pkg.b.y"]) == {"pkg.a.x", "pkg.a"}
    (line,) = describe_cycles(graph, modules)
    assert "pkg.a (" in line and "pkg.b.y (" in line
