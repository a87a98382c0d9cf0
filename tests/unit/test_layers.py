"""The package's layers, read from its source: no module imports itself through others, and the
listener core reads no cluster, file or network (the rules are checked without any)."""

import ast
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import wrapped_gateway

PACKAGE = Path(wrapped_gateway.__file__).parent
ROOT = PACKAGE.name

# What the listener core may import of the package: the models below it and itself.
CORE_MAY_IMPORT = (
    f"{ROOT}.constants",
    f"{ROOT}.hostnames",
    f"{ROOT}.routes",
    f"{ROOT}.wrapped",
    f"{ROOT}.listeners",
)
# The standard library's ways to the world outside the process (and its clock), which the core
# must not take: what it decides depends on its arguments alone.
IO_MODULES = frozenset(
    {
        "asyncio",
        "http",
        "io",
        "logging",
        "multiprocessing",
        "os",
        "pathlib",
        "pickle",
        "select",
        "shutil",
        "signal",
        "socket",
        "ssl",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "time",
        "urllib",
    }
)

Graph = Mapping[str, set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, ast.Module]:
    return {
        module_name(path): ast.parse(path.read_text(), filename=str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def imported(name: str, tree: ast.Module, known: set[str], is_package: bool) -> set[str]:
    """Every module `tree` imports, anywhere in it (functions and TYPE_CHECKING blocks too):
    of the package, the modules themselves; of anything else, the top-level name."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(_resolved(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name if is_package else name.rpartition(".")[0]
                parent = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(_resolved(base, known))
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
    return found


def _resolved(module: str, known: set[str]) -> str:
    return module if module.partition(".")[0] == ROOT else module.partition(".")[0]


def import_graph(modules: Mapping[str, ast.Module]) -> dict[str, set[str]]:
    known = set(modules)
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    return {
        name: imported(name, tree, known, name in packages) & known
        for name, tree in modules.items()
    }


def cycles(graph: Graph) -> list[list[str]]:
    """The modules that import themselves through others (strongly connected components of
    more than one module, or a module importing itself), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
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
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def core_violations(modules: Mapping[str, ast.Module]) -> Iterator[str]:
    """Imports of the listener core beyond the models below it and the pure standard library."""
    known = set(modules)
    for name, tree in modules.items():
        if name != f"{ROOT}.listeners" and not name.startswith(f"{ROOT}.listeners."):
            continue
        for module in sorted(imported(name, tree, known, name.endswith("listeners"))):
            if module.partition(".")[0] == ROOT:
                allowed = any(module == m or module.startswith(f"{m}.") for m in CORE_MAY_IMPORT)
            else:
                allowed = module in sys.stdlib_module_names and module not in IO_MODULES
            if not allowed:
                yield f"{name} imports {module}"


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(import_graph(package_modules())) == []


def test_the_listener_core_imports_no_controller_render_or_io_library() -> None:
    assert list(core_violations(package_modules())) == []


def test_the_package_root_holds_only_the_command_line_and_what_every_layer_shares() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == {"__init__", "__main__", "cli", "constants", "hostnames", "run_options"}


def test_the_listener_core_stays_small_enough_to_read() -> None:
    lines = sum(len(p.read_text().splitlines()) for p in (PACKAGE / "listeners").rglob("*.py"))
    assert lines < 1800


def _source(**modules: str) -> dict[str, ast.Module]:
    return {f"{ROOT}.{name}": ast.parse(text) for name, text in modules.items()}


@pytest.mark.parametrize(
    ("modules", "expected"),
    [
        ({"a": f"from {ROOT}.b import x", "b": f"import {ROOT}.a"}, [[f"{ROOT}.a", f"{ROOT}.b"]]),
        (
            {
                "a": f"import typing\nif typing.TYPE_CHECKING:\n    from {ROOT} import b",
                "b": f"def f():\n    from {ROOT}.c import y",
                "c": f"from {ROOT}.a import z",
            },
            [[f"{ROOT}.a", f"{ROOT}.b", f"{ROOT}.c"]],
        ),
        ({"a": f"from {ROOT}.b import x", "b": "import os"}, []),
    ],
    ids=["two-modules", "through-a-function-and-type-checking", "none"],
)
def test_a_cycle_is_found_however_it_is_imported(
    modules: dict[str, str], expected: list[list[str]]
) -> None:
    assert cycles(import_graph(_source(**modules))) == expected


@pytest.mark.parametrize(
    ("text", "violation"),
    [
        (f"from {ROOT}.controller.kube import KubeApi", f"{ROOT}.controller.kube"),
        (f"from {ROOT}.render import render", f"{ROOT}.render"),
        ("import yaml", "yaml"),
        ("from kubernetes import client", "kubernetes"),
        ("import urllib3.exceptions", "urllib3"),
        ("import time", "time"),
        (f"from {ROOT}.routes import Route\nimport dataclasses", None),
    ],
)
def test_the_core_check_names_what_the_core_must_not_import(
    text: str, violation: str | None
) -> None:
    modules = _source(**{"listeners.rule": text, "controller.kube": "", "render": ""})
    expected = [] if violation is None else [f"{ROOT}.listeners.rule imports {violation}"]
    assert list(core_violations(modules)) == expected
