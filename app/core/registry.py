"""Finding the modules of a registry package: a step kind, a panel form or a call handler
is added by adding a module, never by editing a list."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def discover(package: str, path: Iterable[str], attribute: str, kind: type[T]) -> list[T]:
    """The `attribute` of every public module in `package` that is a `kind`, by module name.

    Modules whose name starts with `_` and modules without that attribute (shared support
    code such as `base`) are skipped.
    """
    found = []
    for module in sorted(pkgutil.iter_modules(path), key=lambda module: module.name):
        if module.name.startswith("_"):
            continue
        value = getattr(importlib.import_module(f"{package}.{module.name}"), attribute, None)
        if isinstance(value, kind):
            found.append(value)
    return found
