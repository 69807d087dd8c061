"""The DynamoDB package's `__all__` is its public API: exactly the names code outside the package uses."""

from __future__ import annotations

import ast
from pathlib import Path

from dashboard.aws import dynamodb

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "dashboard" / "aws" / "dynamodb"
SOURCES = ("dashboard", "classifier", "bench", "tests", "webapp", "deploy")


def _outside_sources() -> dict[Path, str]:
    files = {}
    for top in SOURCES:
        for path in (ROOT / top).rglob("*.py"):
            if PACKAGE not in path.parents and path != Path(__file__).resolve():
                files[path] = path.read_text()
    return files


def _is_package(node: ast.expr) -> bool:
    """`dynamodb` or `<anything>.dynamodb` (as in `jobs.dynamodb`)."""
    return (isinstance(node, ast.Name) and node.id == "dynamodb") or (
        isinstance(node, ast.Attribute) and node.attr == "dynamodb"
    )


def _names_used_outside() -> set[str]:
    """Every `dynamodb.<name>` and every `from dashboard.aws.dynamodb import <name>` outside the package."""
    used: set[str] = set()
    for text in _outside_sources().values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and _is_package(node.value):
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == "dashboard.aws.dynamodb":
                used.update(alias.name for alias in node.names)
    return used


def test_every_exported_name_is_used_outside_the_package():
    unused = set(dynamodb.__all__) - _names_used_outside()
    assert not unused, f"exported but used nowhere outside dashboard/aws/dynamodb/: {sorted(unused)}"


def test_every_name_used_outside_the_package_is_exported():
    submodules = {path.stem for path in PACKAGE.glob("*.py")}
    missing = {name for name in _names_used_outside() if name not in submodules} - set(dynamodb.__all__)
    assert not missing, f"used outside the package but not in __all__: {sorted(missing)}"


def test_every_exported_name_exists():
    assert [name for name in dynamodb.__all__ if not hasattr(dynamodb, name)] == []
