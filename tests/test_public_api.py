"""``acytoo.__all__`` agrees with what the private modules export."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

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
