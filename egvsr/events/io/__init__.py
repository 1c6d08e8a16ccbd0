"""Event recordings in and out: content-detected readers for every supported layout, our HDF5
writer, `describe` (for `egvsr info`) and `convert` (for `egvsr convert`).

Each layout is declared in its own module (`LAYOUT = Layout(...)`, see `layouts`); code outside the
package adds one with `register_layout(Layout(name, description, sniff, open, looks_at))`.
Names load lazily, so importing the package costs nothing until a reader or writer is used; the
third-party decoders (`aedat`, `expelliarmus`) are imported only when a file needs them.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".detect": ("read_events", "open_events", "detect_layout"),
    ".layouts": ("LAYOUTS", "register_layout", "unregister_layout"),
    ".declaration": ("Layout",),
    ".source": ("EventSource",),
    ".writer": ("write_events", "EventWriter"),
    ".info": ("describe", "summarize"),
    ".converter": ("convert",),
}

__all__ = export_names(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
