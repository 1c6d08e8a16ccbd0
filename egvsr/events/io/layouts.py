"""The ordered list of event file layouts that detection tries and `open_events` dispatches on.

Built-in layouts are declared in their own modules (`LAYOUT = Layout(...)`); a new one is one
more module plus one line here, or, from outside the package, `register_layout(Layout(...))`.
Order matters only where two sniffs could both accept a file: the earlier wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from egvsr.errors import ConfigError
from egvsr.events.io import aedat4, ced_folder, dsec_h5, e2vid_h5, egvsr_h5, evtexture_h5, prophesee
from egvsr.events.io.declaration import Layout, LooksAt

_LAYOUTS: list[Layout] = [
    egvsr_h5.LAYOUT, e2vid_h5.LAYOUT, dsec_h5.LAYOUT, ced_folder.LAYOUT, aedat4.LAYOUT,
    *prophesee.LAYOUTS, evtexture_h5.LAYOUT,
]


def register_layout(layout: Layout) -> Layout:
    """Add `layout` after those known (its name must be new); returns it."""
    if not isinstance(layout, Layout):
        raise ConfigError(f"register_layout: expected an egvsr.events.io.Layout, got {type(layout).__name__}")
    if any(known.name == layout.name for known in _LAYOUTS):
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
    return [lo for lo in _LAYOUTS if looks_at is None or lo.looks_at == looks_at]


def find_layout(name: str) -> Layout:
    """The layout called `name`; `ConfigError` listing the known names otherwise."""
    if not isinstance(name, str):  # an array would be compared by element, a number never matches
        raise ConfigError(f"layout: expected a layout name (str), one of {', '.join(LAYOUTS)}; "
                          f"got {type(name).__name__}")
    for layout in _LAYOUTS:
        if layout.name == name:
            return layout
    raise ConfigError(f"layout {name!r} is not known; expected one of {', '.join(LAYOUTS)}")


class _Descriptions(Mapping):
    """Live read-only view name -> description of the registered layouts (`LAYOUTS`)."""

    def __getitem__(self, name: str) -> str:
        for layout in _LAYOUTS:
            if layout.name == name:
                return layout.description
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([layout.name for layout in _LAYOUTS])

    def __len__(self) -> int:
        return len(_LAYOUTS)

    def __repr__(self) -> str:
        return repr(dict(self))


#: Every layout we read, name -> description (follows registrations); listed in error messages.
LAYOUTS: Mapping[str, str] = _Descriptions()
