"""The dependency rule of docs/architecture.md, read from the source's imports so that a violation fails here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"
ROOT_PACKAGE = "evscada"


@dataclass(frozen=True, slots=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name, or module.name for `from module import name`
    line: int
    type_checking_only: bool
    names: tuple[str, ...] = ()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> Iterator[Import]:
    importer = module_name(path)
    tree = ast.parse(path.read_text(), filename=str(path))

    def walk(nodes: list[ast.stmt], guarded: bool) -> Iterator[Import]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                yield from walk(node.body, True)
                yield from walk(node.orelse, guarded)
                continue
            for child in ast.walk(node) if not isinstance(node, ast.If) else [node]:
                if isinstance(child, ast.Import):
                    for alias in child.names:
                        yield Import(importer, alias.name, child.lineno, guarded)
                elif isinstance(child, ast.ImportFrom):
                    base = _resolve(importer, path.name == "__init__.py", child)
                    names = tuple(alias.name for alias in child.names)
                    yield Import(importer, base, child.lineno, guarded, names)
            if isinstance(node, ast.If):
                yield from walk(node.body, guarded)
                yield from walk(node.orelse, guarded)

    yield from walk(tree.body, False)


MODULES = {module_name(p): p for p in sorted((SOURCE / ROOT_PACKAGE).rglob("*.py"))}
IMPORTS = [i for p in MODULES.values() for i in imports_of(p) if i.imported.split(".")[0] == ROOT_PACKAGE]


def layer(module: str) -> str:
    """The top-level part of evscada a module belongs to: core, storage, gateway, api, app, cli ..."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def reached_modules(imp: Import, known: set[str]) -> list[str]:
    """Modules an import statement loads: the named module, and submodules named by `from pkg import sub`."""
    found = [imp.imported] if imp.imported in known else []
    found += [f"{imp.imported}.{name}" for name in imp.names if f"{imp.imported}.{name}" in known]
    return found


def _layers(names: str) -> set[str]:
    return set(names.split())


FORBIDDEN: dict[str, set[str]] = {
    # The domain knows no edge: no OCPP, SQL, HTTP, no settings file.
    "core": _layers("storage gateway api console integrations simulator demo bus security migrations app cli settings"),
    "api": _layers("storage gateway console app cli simulator demo"),
    "console": _layers("storage gateway app cli simulator demo"),
    "integrations": _layers("storage gateway api console app cli simulator demo"),
    # The simulator is a station: it speaks OCPP to any CSMS and knows none of this one's insides.
    "simulator": _layers("app core storage gateway api console integrations bus settings cli demo migrations"),
    "storage": _layers("gateway api console integrations app cli simulator demo"),
    # A cluster's station ownership reaches the gateway through a Protocol (gateway/registry.py; ADR 12).
    "gateway": _layers("storage api console integrations bus app cli simulator demo"),
    "bus": _layers("storage gateway api console integrations app cli simulator demo"),
}


def violations_of_layers(imports: list[Import]) -> list[str]:
    found = []
    for imp in imports:
        source, target = layer(imp.importer), layer(imp.imported)
        if target in FORBIDDEN.get(source, set()):
            found.append(f"{imp.importer}:{imp.line} imports {imp.imported} ({source} must not import {target})")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each a cycle to report."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return result


def package_edges(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for imp in imports:
        source, target = layer(imp.importer), layer(imp.imported)
        if source and target and source != target:
            edges.setdefault(source, set()).add(target)
    return edges


def module_edges(imports: list[Import], known: set[str]) -> dict[str, set[str]]:
    """Run-time imports between modules (in functions too); a TYPE_CHECKING-only import documents a relation and
    loads nothing. An import of a module's own package is left out: Python runs the package's __init__ first anyway."""
    edges: dict[str, set[str]] = {}
    for imp in imports:
        if imp.type_checking_only:
            continue
        for target in reached_modules(imp, known):
            if target != imp.importer and not imp.importer.startswith(target + "."):
                edges.setdefault(imp.importer, set()).add(target)
    return edges


def private_imports(imports: list[Import]) -> list[str]:
    found = []
    for imp in imports:
        for name in imp.names:
            if name.startswith("_") and not name.startswith("__") and f"{imp.imported}.{name}" not in MODULES:
                found.append(f"{imp.importer}:{imp.line} imports private {name} from {imp.imported}")
    return found


def test_each_layer_imports_only_what_the_dependency_rule_allows() -> None:
    assert violations_of_layers(IMPORTS) == []


def test_packages_form_no_cycle() -> None:
    assert cycles(package_edges(IMPORTS)) == []


def test_modules_form_no_import_cycle() -> None:
    assert cycles(module_edges(IMPORTS, set(MODULES))) == []


def test_no_private_name_is_imported_from_another_module() -> None:
    assert private_imports(IMPORTS) == []


def test_api_never_imports_the_console() -> None:
    assert [
        f"{i.importer}:{i.line}" for i in IMPORTS if layer(i.importer) == "api" and layer(i.imported) == "console"
    ] == []


# The checks themselves must be able to fail: each is shown a small import graph that breaks its rule.
def _imp(importer: str, imported: str, *names: str, guarded: bool = False) -> Import:
    return Import(importer, imported, 1, guarded, names)


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("evscada.core.stations.service", "evscada.storage.tables"),
        ("evscada.api.routes.stations", "evscada.console.web"),
        ("evscada.integrations.webhooks.worker", "evscada.storage.store"),
        ("evscada.simulator.station", "evscada.core.model"),
        ("evscada.console.views", "evscada.gateway.registry"),
    ],
)
def test_the_layer_check_catches_a_forbidden_import(importer: str, imported: str) -> None:
    assert violations_of_layers([_imp(importer, imported)])


def test_the_cycle_checks_catch_a_circle_and_let_type_checking_only_imports_pass() -> None:
    known = {"evscada.storage", "evscada.storage.a", "evscada.storage.b"}
    there = _imp("evscada.storage.a", "evscada.storage.b")
    back = _imp("evscada.storage.b", "evscada.storage", "a")  # `from evscada.storage import a` names a module
    assert cycles(module_edges([there, back], known)) == [["evscada.storage.a", "evscada.storage.b"]]
    documented = _imp("evscada.storage.b", "evscada.storage.a", guarded=True)
    assert cycles(module_edges([there, documented], known)) == []
    assert cycles(
        package_edges([_imp("evscada.api.x", "evscada.console.y"), _imp("evscada.console.y", "evscada.api.x")])
    )


def test_the_private_name_check_catches_an_underscore_import() -> None:
    assert private_imports([_imp("evscada.storage.a", "evscada.storage.store", "_station_from")])
    assert not private_imports([_imp("evscada.storage.a", "evscada.storage.store", "__version__")])
