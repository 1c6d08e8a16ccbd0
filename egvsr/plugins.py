"""Find and import the modules of a package that declare a plug-in, so a new one is one file.

A registry (event file layouts, representations, models) names its package and a marker, the start
of the line that declares (`LAYOUT = Layout(`, `@register_model(`); every module directly in the
package whose source has such a line is imported, and its declaration registers itself. Sources are
read, not imported, to choose, so modules that declare nothing are not loaded for it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


def declaring_modules(package: str, marker: str, first: Sequence[str] = ()) -> list[str]:
    """Dotted names of the public modules directly in `package` with a line matching the regex `marker`.

    Order: the module names in `first` (short names, in that order), then the others by name, so
    registration order (listing, detection) does not depend on the file system.
    """
    importlib.import_module(package)
    pattern = re.compile(rf"^(?:{marker})", re.MULTILINE)
    found = []
    for info in pkgutil.iter_modules(list(sys.modules[package].__path__)):
        if info.ispkg or info.name.startswith("_"):
            continue
        try:
            text = (Path(info.module_finder.path) / f"{info.name}.py").read_text(encoding="utf-8")
        except (AttributeError, OSError, UnicodeDecodeError):  # not a source file on disk: import it to see
            text = None
        if text is None or pattern.search(text):
            found.append(info.name)
    rank = {name: i for i, name in enumerate(first)}
    found = sorted(set(found), key=lambda name: (rank.get(name, len(rank)), name))
    return [f"{package}.{name}" for name in found]


def import_declaring(package: str, marker: str, first: Sequence[str] = ()) -> list[ModuleType]:
    """Import every module `declaring_modules` finds (in its order); returns them."""
    return [importlib.import_module(name) for name in declaring_modules(package, marker, first)]


class DeclaredModules:
    """A registry's declaring modules, imported on its first lookup and once only (again after an import
    that failed). A module that looks its registry up while it loads finds the loading under way and sees
    what is registered so far, so it does not start the loading again."""

    def __init__(self, package: str, marker: str, first: Sequence[str] = ()) -> None:
        self._where = (package, marker, tuple(first))
        self._started = False
        self.modules: list[ModuleType] = []

    def load(self) -> bool:
        """Import the modules unless done or under way; True for the call that imported them."""
        if self._started:
            return False
        self._started = True
        try:
            self.modules = import_declaring(*self._where)
        except BaseException:
            self._started = False
            raise
        return True
