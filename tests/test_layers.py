"""The package's layers, read from the source with ``ast`` (lazy imports included).

- ``providers/`` and ``_transport/`` never import the server, the CLI or the store;
- ``server/`` never imports the CLI;
- nothing outside ``_transport/`` imports its private modules (``_transport._x``):
  the package's ``__init__`` is the surface the rest of acytoo uses;
- ``cli/`` command modules never import back up into ``cli/main.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import acytoo

PACKAGE = Path(acytoo.__file__).parent

# (importing module, imported module) pairs that break a rule today, each with
# the reason it is still here. The test below fails when an entry is no longer needed.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, as absolute names, wherever the import statement is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # `from . import x` and `from .._transport import _stream` name modules too.
            yield from (f"{target}.{alias.name}" for alias in node.names)


def all_imports() -> list[tuple[str, str]]:
    pairs = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        pairs.extend((importer, imported) for imported in imports_of(path))
    return pairs


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def broken_rule(importer: str, imported: str) -> str | None:
    if not inside(imported, "acytoo"):
        return None
    lower = ("acytoo.providers", "acytoo._transport")
    upper = ("acytoo.server", "acytoo.cli", "acytoo.store", "acytoo._store_records")
    if any(inside(importer, p) for p in lower) and any(inside(imported, u) for u in upper):
        return "providers and the transport never import the server, the CLI or the store"
    if inside(importer, "acytoo.server") and inside(imported, "acytoo.cli"):
        return "the server never imports the CLI"
    transport_private = imported.startswith("acytoo._transport._")
    if transport_private and not inside(importer, "acytoo._transport"):
        return "only the transport imports its private modules"
    if (
        inside(importer, "acytoo.cli")
        and importer not in ("acytoo.cli", "acytoo.cli.main")
        and inside(imported, "acytoo.cli.main")
    ):
        return "CLI command modules never import cli/main.py"
    return None


def test_the_reader_sees_relative_and_lazy_imports() -> None:
    pairs = set(all_imports())
    # A relative import at module level, and one inside a function body.
    assert ("acytoo.providers.acytoo", "acytoo._transport") in pairs
    assert ("acytoo.server.backends", "acytoo.providers.retry") in pairs


def known(importer: str, imported: str) -> bool:
    return any(importer == i and inside(imported, m) for i, m in KNOWN_VIOLATIONS)


def test_no_import_breaks_a_layer_rule() -> None:
    broken = sorted(
        f"{importer} imports {imported}: {rule}"
        for importer, imported in set(all_imports())
        if (rule := broken_rule(importer, imported)) and not known(importer, imported)
    )
    assert broken == []


def test_known_violations_are_still_real() -> None:
    # A loop, not a parametrization: with no known violation left the test still runs.
    pairs = set(all_imports())
    for pair in KNOWN_VIOLATIONS:
        assert pair in pairs, f"{pair} no longer happens: remove it from KNOWN_VIOLATIONS"
        assert broken_rule(*pair) is not None


def test_the_rule_catches_the_server_importing_the_cli() -> None:
    # The rule python -m acytoo.server used to break, checked on the pair it made.
    assert broken_rule("acytoo.server.__main__", "acytoo.cli.serve") is not None
