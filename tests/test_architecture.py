"""The package layout: dependencies point one way (top to bottom), with no cycles.

The import graph is read from the source with ``ast`` (every ``import`` and
``from ... import``, including the lazy ones inside functions: a lazy import is
still a dependency). The allowed order is written once, in :data:`LAYERS`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "labelkit"
README = Path(__file__).resolve().parents[1] / "README.md"

#: Bottom to top. A unit may import from units listed before it (and from itself);
#: never from a unit after it, and never from the root ``labelkit`` namespace.
LAYERS = [
    "errors",
    "_version",
    "_summary",
    "geometry",
    "synth",
    "media",
    "store",
    "io",
    "models",
    "propose",
    "video",
    "review",
    "audit",
    "finetune",
    "widgets",
    "fiftyone_backend",
    "cli",
    "testing",
]


def _module_name(path: Path, pkg: Path = PKG) -> str:
    rel = path.relative_to(pkg.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, pkg: Path = PKG) -> list[tuple[str, int]]:
    """Absolute names of the labelkit modules (or module attributes) ``path`` imports."""
    mod = _module_name(path, pkg)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "labelkit" or target.startswith("labelkit."):
                for alias in node.names:
                    out.append((f"{target}.{alias.name}", node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "labelkit" or alias.name.startswith("labelkit."):
                    out.append((alias.name, node.lineno))
    return out


def _unit(name: str) -> str | None:
    """The layer unit of a dotted labelkit name (``labelkit.store.image.X`` -> ``store``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def _graph(pkg: Path = PKG) -> dict[str, set[str]]:
    """Module -> the labelkit modules it imports (attributes resolved to their module)."""
    modules = {_module_name(p, pkg): p for p in pkg.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        deps = set()
        for name, _ in _imports(path, pkg):
            while name not in modules and "." in name:
                name = name.rpartition(".")[0]
            if name != mod:
                deps.add(name)
        graph[mod] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_every_unit_of_the_package_has_a_place_in_the_order():
    units = {p.stem if p.is_file() else p.name for p in PKG.iterdir() if not p.name.startswith("__")}
    units = {u for u in units if (PKG / u).is_dir() or (PKG / f"{u}.py").is_file()}
    assert units - {"py"} <= set(LAYERS) | {"py.typed"}, f"not in LAYERS: {sorted(units - set(LAYERS))}"


def _upward(pkg: Path = PKG) -> list[str]:
    """Every import of a unit from a unit above it, or from the root namespace."""
    bad = []
    for path in sorted(pkg.rglob("*.py")):
        unit = _unit(_module_name(path, pkg))
        if unit is None:  # labelkit/__init__.py: the public namespace sits on top of everything
            continue
        for name, line in _imports(path, pkg):
            dep = _unit(name)
            where = f"{path.relative_to(pkg.parent)}:{line}"
            if dep is None or dep == "__version__":
                bad.append(f"{where} imports the root namespace ({name}); import the module that defines it")
            elif dep not in LAYERS:
                bad.append(f"{where} imports {name}: '{dep}' has no place in LAYERS")
            elif dep != unit and LAYERS.index(dep) > LAYERS.index(unit):
                bad.append(f"{where}: {unit} imports {name} from {dep}, which sits above it")
    return bad


def test_no_upward_imports_and_none_from_the_root_namespace():
    bad = _upward()
    assert not bad, "\n".join(bad)


def _fake_package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "labelkit"
    for rel, text in files.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return pkg


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"store/__init__.py": "", "store/image.py": "from ..widgets import labeler\n"}, ["store imports"]),
        ({"store/__init__.py": "", "store/image.py": "def f():\n    from labelkit.review import x\n"}, ["store imports"]),
        ({"store/__init__.py": "", "store/image.py": "from .. import __version__\n"}, ["root namespace"]),
        ({"review/__init__.py": "", "review/s.py": "from ..store.image import ReviewStore\n"}, []),
        ({"review/__init__.py": "", "review/s.py": "from . import edit\n"}, []),
    ],
)
def test_the_checker_reports_upward_imports_and_only_those(tmp_path, files, expected):
    bad = _upward(_fake_package(tmp_path, files))
    assert len(bad) == len(expected)
    for message, want in zip(bad, expected, strict=True):
        assert want in message


def test_no_import_cycles_between_subpackages():
    unit_graph: dict[str, set[str]] = {}
    for mod, deps in _graph().items():
        unit = _unit(mod)
        if unit is None:
            continue
        unit_graph.setdefault(unit, set()).update(d for d in map(_unit, deps) if d and d != unit)
    assert _cycle(unit_graph) is None, f"cycle between subpackages: {' -> '.join(_cycle(unit_graph))}"


def test_no_import_cycles_between_modules():
    graph = {m: deps - {"labelkit"} for m, deps in _graph().items() if m != "labelkit"}
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
        ({}, False),
    ],
)
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert (_cycle(graph) is not None) is expected


def test_readme_architecture_section_lists_every_subpackage():
    text = README.read_text()
    match = re.search(r"^## Architecture\n(.*?)^## ", text, re.S | re.M)
    assert match, "README has no '## Architecture' section"
    section = match.group(1)
    packages = sorted(p.name for p in PKG.iterdir() if (p / "__init__.py").is_file())
    missing = [p for p in packages if not re.search(rf"^\s*{re.escape(p)}/", section, re.M)]
    assert not missing, f"README Architecture does not list: {missing}"
    listed = re.findall(r"^\s{2}(\w+)/", section, re.M)
    assert not (set(listed) - set(packages)), f"README lists packages that do not exist: {set(listed) - set(packages)}"


def test_every_subpackage_docstring_says_what_it_may_import():
    missing = []
    for init in sorted(PKG.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if not re.search(r"may import", doc, re.I) and "Top of the tree" not in doc:
            missing.append(init.parent.name)
    assert not missing, f"package docstrings without 'May import': {missing}"
