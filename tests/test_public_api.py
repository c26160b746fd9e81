"""``acytoo.__all__`` agrees with what the private modules export."""

from __future__ import annotations

import ast
import builtins
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import acytoo
import acytoo.providers


def test_all_is_sorted_and_unique() -> None:
    assert len(set(acytoo.__all__)) == len(acytoo.__all__)
    assert acytoo.__all__ == sorted(acytoo.__all__)


def test_all_agrees_with_the_lazy_locations() -> None:
    locations: dict[str, str] = acytoo._LOCATIONS  # type: ignore[attr-defined]
    assert set(locations) == set(acytoo.__all__) - {"__version__"}
    for name, module_name in locations.items():
        module = importlib.import_module(module_name, "acytoo")
        assert name in module.__all__, f"{name} is not in {module_name}.__all__"


@pytest.mark.parametrize("name", acytoo.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(acytoo, name) is not None


def test_every_name_in_all_is_documented() -> None:
    for name in acytoo.__all__:
        value = getattr(acytoo, name)
        # Aliases such as AsyncResult are GenericAlias objects, which Python 3.10
        # also reports as types; their __doc__ is the aliased class's.
        if isinstance(value, type) and not isinstance(value, types.GenericAlias):
            assert value.__doc__, name


def test_errors_module_exports_are_all_public() -> None:
    errors = importlib.import_module("acytoo.errors")
    for name in errors.__all__:
        assert name in acytoo.__all__, name
        assert getattr(acytoo, name) is getattr(errors, name)


def test_timeout_error_is_an_alias_of_api_timeout_error() -> None:
    errors = importlib.import_module("acytoo.errors")
    assert "TimeoutError" in errors.__all__
    assert "TimeoutError" in acytoo.__all__
    assert acytoo.TimeoutError is acytoo.APITimeoutError
    assert errors.TimeoutError is errors.APITimeoutError
    assert issubclass(acytoo.APITimeoutError, builtins.TimeoutError)
    assert issubclass(acytoo.ConnectTimeout, acytoo.APITimeoutError)
    assert issubclass(acytoo.ReadTimeout, acytoo.APITimeoutError)
    # The alias does not replace the built-in in a module that imports acytoo's names.
    assert acytoo.APITimeoutError is not builtins.TimeoutError


def test_typing_module_re_exports_the_named_types() -> None:
    # acytoo.typing is the former home of the types, kept for existing imports.
    old = importlib.import_module("acytoo.typing")
    types_module = importlib.import_module("acytoo._types")
    assert old.__all__ == types_module.__all__
    for name in old.__all__:
        assert getattr(old, name) is getattr(types_module, name), name
    for name in ("AsyncResult", "CreateResult", "Message", "Messages"):
        assert getattr(acytoo, name) is getattr(old, name), name


def test_no_package_module_imports_the_compatibility_typing_module() -> None:
    package = Path(acytoo.__file__).parent
    for path in package.rglob("*.py"):
        if path.name == "typing.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.module != "typing", f"{path} imports acytoo.typing"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert "acytoo.typing" not in names, f"{path} imports acytoo.typing"


def test_transport_exports_that_are_public() -> None:
    transport = importlib.import_module("acytoo._transport")
    for name in ("RetryPolicy", "Timeout", "aclose_sessions"):
        assert name in transport.__all__
        assert getattr(acytoo, name) is getattr(transport, name)


def test_private_modules_declare_all() -> None:
    for module_name in [
        "acytoo._transport._decoders",
        "acytoo._transport._options",
        "acytoo._transport._pool",
        "acytoo._transport._proxy",
        "acytoo._transport._stream",
        "acytoo._sync",
        "acytoo._types",
        "acytoo._urls",
        "acytoo._private_files",
        "acytoo.providers._env_keys",
        "acytoo.providers.base",
        "acytoo.providers.acytoo",
    ]:
        module = importlib.import_module(module_name)
        exported = module.__all__
        for name in exported:
            assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"


def test_providers_package_exports() -> None:
    for name in acytoo.providers.__all__:
        assert getattr(acytoo.providers, name) is not None
    assert acytoo.Acytoo is acytoo.providers.Acytoo


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError):
        acytoo.no_such_name  # noqa: B018


def test_aiohttp_free_errors_stay_aiohttp_free() -> None:
    code = (
        "import sys, acytoo._base_errors, acytoo; acytoo.InvalidRequestError; "
        "print('aiohttp' in sys.modules)"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert finished.stdout.strip() == "False"
