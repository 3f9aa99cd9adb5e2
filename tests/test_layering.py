"""The package keeps the layering drawn at the top of ``zyntro_async/__init__.py``: no
module imports one from a later layer, and no imports form a cycle.

The imports are read from the source (``ast``), not from a running interpreter, so an
import inside a function counts as much as one at the top: it runs the first time the
function does. Imports under ``if TYPE_CHECKING:`` count too: an annotation that names a
module from a later layer, or one that closes a cycle, couples the modules just the same
(the type checker and the reader need both), even though nothing runs.

Not counted: the import of a package that importing one of its modules implies
(``a.b`` runs ``a/__init__.py`` first). A package's ``__init__`` re-exporting its own
modules is how a package is built, not a dependency between layers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import zyntro_async

PACKAGE = Path(zyntro_async.__file__).parent
ROOT = "zyntro_async"

# "3. protocol, sans I/O: ``_converter``, ``_protocol``" (continued on indented lines)
_ITEM = re.compile(r"^(\d+)\. [^\n]*?: (.*(?:\n {3,}\S.*)*)", re.MULTILINE)
_NAME = re.compile(r"``([\w.]+)``")


def drawn_layers(doc: str, root: str) -> dict[str, int]:
    """The layering in ``doc``: module or package name (``root.x``) -> its layer."""
    layers: dict[str, int] = {}
    for match in _ITEM.finditer(doc):
        for name in _NAME.findall(match.group(2)):
            full = name if name.split(".")[0] == root else f"{root}.{name}"
            assert full not in layers, f"{full} is drawn in two layers"
            layers[full] = int(match.group(1))
    return layers


def modules(package: Path, root: str) -> dict[str, Path]:
    """Every module of the package under ``package``: dotted name -> file."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        parts = [root, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: Iterable[str], root: str) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        if target == root or target.startswith(root + "."):
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                add(sub if sub in known else source)
    found.discard(name)
    return found


def graph(package: Path, root: str) -> dict[str, set[str]]:
    found = modules(package, root)
    return {name: imports(name, path, found, root) for name, path in found.items()}


def layer_of(module: str, layers: Mapping[str, int]) -> int | None:
    """The layer of the longest drawn name that is ``module`` or a package holding it."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        layer = layers.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return None


def upward(edges: Mapping[str, set[str]], layers: Mapping[str, int]) -> list[str]:
    """Every import of a module from a later layer than the importer's."""
    found = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            here, there = layer_of(source, layers), layer_of(target, layers)
            if here is not None and there is not None and there > here:
                found.append(f"{source} (layer {here}) imports {target} (layer {there})")
    return found


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(components)


def units(edges: Mapping[str, set[str]], root: str) -> dict[str, set[str]]:
    """The same imports between the package's top-level modules and subpackages (a
    subpackage is one unit; a ``__main__`` program is a unit of its own)."""

    def unit(module: str) -> str:
        parts = module.split(".")
        if parts[-1] == "__main__":
            return module
        return ".".join(parts[:2])

    collapsed: dict[str, set[str]] = {}
    for source, targets in edges.items():
        mine = collapsed.setdefault(unit(source), set())
        mine.update(unit(t) for t in targets if unit(t) != unit(source))
    return collapsed


EDGES = graph(PACKAGE, ROOT)
LAYERS = drawn_layers(zyntro_async.__doc__ or "", ROOT)


def test_the_layering_is_drawn_and_names_every_module() -> None:
    assert len(set(LAYERS.values())) >= 5, "no layering found in zyntro_async's docstring"
    missing = [m for m in sorted(EDGES) if layer_of(m, LAYERS) is None]
    assert not missing, f"modules in no layer (add them to zyntro_async's docstring): {missing}"
    stale = [name for name in sorted(LAYERS) if name not in EDGES]
    assert not stale, f"the layering names modules that do not exist: {stale}"


def test_no_module_imports_from_a_later_layer() -> None:
    assert upward(EDGES, LAYERS) == []


def test_no_imports_form_a_cycle() -> None:
    assert cycles(EDGES) == [], "modules that import each other"
    assert cycles(units(EDGES, ROOT)) == [], "modules or subpackages that import each other"


def test_nothing_imports_a_program() -> None:
    """A ``__main__`` module runs a command when imported: only ``python -m`` may."""
    importers = [s for s, ts in sorted(EDGES.items()) if any(t.endswith("__main__") for t in ts)]
    assert importers == []


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A package with a lazy cycle, a type-only upward import and a relative import."""
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": '"""Layers:\n\n1. data: ``_low``\n2. logic: ``_high``, ``sub``\n"""\n',
        "_low.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from .sub import _leaf\n"
            "def f():\n    from . import _high\n"
        ),
        "_high.py": "from ._low import f\n",
        "sub/__init__.py": "",
        "sub/_leaf.py": "from .. import _low\nimport toy._high\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    return pkg


def test_the_checks_see_lazy_type_only_and_relative_imports(toy: Path) -> None:
    edges = graph(toy, "toy")
    assert edges["toy._low"] == {"toy._high", "toy.sub._leaf"}
    assert edges["toy.sub._leaf"] == {"toy._low", "toy._high"}
    assert cycles(edges) == [["toy._high", "toy._low", "toy.sub._leaf"]]
    layers = drawn_layers((toy / "__init__.py").read_text(), "toy")
    assert layers == {"toy._low": 1, "toy._high": 2, "toy.sub": 2}
    assert upward(edges, layers) == [
        "toy._low (layer 1) imports toy._high (layer 2)",
        "toy._low (layer 1) imports toy.sub._leaf (layer 2)",
    ]
    assert cycles(units(edges, "toy")) == [["toy._high", "toy._low", "toy.sub"]]
