"""Attribute-level lazy imports for package ``__init__`` modules.

``import acytoo`` must stay cheap: the CLI's ``--help`` and the offline
assistant never touch the network, so they should not pay for importing
aiohttp. Packages list where each public name lives; the module holding it is
imported on first access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, locations: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``locations[name]`` (a relative module) on demand."""

    def __getattr__(name: str) -> Any:
        module_name = locations.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name, package), name)
        # Cache it on the package so later lookups are plain attribute reads.
        importlib.import_module(package).__dict__[name] = value
        return value

    return __getattr__
