"""The ordered list of event file layouts that detection tries and `open_events` dispatches on.

Each layout in this package is declared in its own module, which ends with `LAYOUT = Layout(...)`
(or `LAYOUTS = (...)`); those modules are found and imported on first use (`egvsr.plugins`), so a new
layout is one new module. From outside the package: `register_layout(Layout(...))`. Order matters only
where two sniffs could both accept a file: the earlier wins (`_FIRST`, then new modules by name, then
registrations).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from egvsr.errors import ConfigError
from egvsr.events.io.declaration import Layout, LooksAt
from egvsr.plugins import DeclaredModules

#: Detection order of the built-in modules (evtexture_h5's sniff is the loosest of the HDF5 ones).
_FIRST = ("egvsr_h5", "e2vid_h5", "dsec_h5", "ced_folder", "aedat4", "prophesee", "evtexture_h5")
_MARKER = r"LAYOUTS?\s*(?::[^=\n]*)?="

_LAYOUTS: list[Layout] = []
_DECLARED = DeclaredModules(__package__, _MARKER, _FIRST)


def _known() -> list[Layout]:
    """The registered layouts, after importing the modules of this package that declare one."""
    if _DECLARED.load():
        declared = []
        for module in _DECLARED.modules:
            many = getattr(module, "LAYOUTS", ())  # this module's LAYOUTS is a name -> description view
            found = [*(many if isinstance(many, (tuple, list)) else ()), getattr(module, "LAYOUT", None)]
            declared += [lo for lo in found if isinstance(lo, Layout)]
        _LAYOUTS[:0] = declared
    return _LAYOUTS


def register_layout(layout: Layout) -> Layout:
    """Add `layout` after those known (its name must be new); returns it."""
    if not isinstance(layout, Layout):
        raise ConfigError(f"register_layout: expected an egvsr.events.io.Layout, got {type(layout).__name__}")
    if any(known.name == layout.name for known in _known()):
        raise ConfigError(f"layout {layout.name!r} is already registered")
    _LAYOUTS.append(layout)
    return layout


def unregister_layout(name: str) -> Layout:
    """Remove the layout called `name` (built-in or registered); returns it."""
    layout = find_layout(name)
    _LAYOUTS.remove(layout)
    return layout


def all_layouts(looks_at: LooksAt | None = None) -> list[Layout]:
    """The layouts in detection order (only those whose sniff looks at `looks_at`, when given)."""
    return [lo for lo in _known() if looks_at is None or lo.looks_at == looks_at]


def find_layout(name: str) -> Layout:
    """The layout called `name`; `ConfigError` listing the known names otherwise."""
    if not isinstance(name, str):  # an array would be compared by element, a number never matches
        raise ConfigError(f"layout: expected a layout name (str), one of {', '.join(LAYOUTS)}; "
                          f"got {type(name).__name__}")
    for layout in _known():
        if layout.name == name:
            return layout
    raise ConfigError(f"layout {name!r} is not known; expected one of {', '.join(LAYOUTS)}")


class _Descriptions(Mapping):
    """Live read-only view name -> description of the registered layouts (`LAYOUTS`)."""

    def __getitem__(self, name: str) -> str:
        for layout in _known():
            if layout.name == name:
                return layout.description
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([layout.name for layout in _known()])

    def __len__(self) -> int:
        return len(_known())

    def __repr__(self) -> str:
        return repr(dict(self))


#: Every layout we read, name -> description (follows registrations); listed in error messages.
LAYOUTS: Mapping[str, str] = _Descriptions()
