"""Lazy public names for packages: `import egvsr.events` stays cheap until a name is used (PEP 562)."""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping

#: module (relative to the package, e.g. ".detect") -> the public names it defines.
Exports = Mapping[str, tuple[str, ...]]


def export_names(exports: Exports) -> list[str]:
    """The public names of `exports`, sorted (a package's `__all__`)."""
    return sorted(name for names in exports.values() for name in names)


def lazy_exports(package: str, exports: Exports) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level `__getattr__` and `__dir__` for `package`, importing a name's module on first use."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(module_of))

    return __getattr__, __dir__
