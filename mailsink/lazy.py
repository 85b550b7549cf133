"""Public names imported on first use (PEP 562), for packages that must import fast.

The pytest plugin imports ``mailsink`` in every pytest run of a project that
installs it, and eager imports of the store and web layers cost ~150 ms.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` that imports ``names[name]`` and takes ``name`` from it.

    The value is kept in the package's namespace, so each name is looked up once.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the PEP 562 hook's name
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
