"""Event recordings in and out: content-detected readers for every supported layout, our HDF5
writer, `describe` (for `egvsr info`) and `convert` (for `egvsr convert`).

Each layout is declared in its own module (`LAYOUT = Layout(...)`, see `layouts`); code outside the
package adds one with `register_layout(Layout(name, description, sniff, open, looks_at))`.
Names load lazily, so importing the package costs nothing until a reader or writer is used; the
third-party decoders (`aedat`, `expelliarmus`) are imported only when a file needs them.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports

_EXPORTS = {
    "read_events": "egvsr.events.io.detect",
    "open_events": "egvsr.events.io.detect",
    "detect_layout": "egvsr.events.io.detect",
    "LAYOUTS": "egvsr.events.io.layouts",
    "Layout": "egvsr.events.io.declaration",
    "register_layout": "egvsr.events.io.layouts",
    "unregister_layout": "egvsr.events.io.layouts",
    "EventSource": "egvsr.events.io.source",
    "write_events": "egvsr.events.io.writer",
    "EventWriter": "egvsr.events.io.writer",
    "describe": "egvsr.events.io.info",
    "summarize": "egvsr.events.io.info",
    "convert": "egvsr.events.io.converter",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
