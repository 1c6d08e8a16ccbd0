"""Event recordings in and out: content-detected readers for every supported layout, our HDF5
writer, `describe` (for `egvsr info`) and `convert` (for `egvsr convert`).

Names load lazily, so importing the package costs nothing until a reader or writer is used; tonic's
decoders are imported only by `tonic_bridge`, when a file needs them.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports

_EXPORTS = {
    "read_events": "egvsr.events.io.detect",
    "open_events": "egvsr.events.io.detect",
    "detect_layout": "egvsr.events.io.detect",
    "LAYOUTS": "egvsr.events.io.detect",
    "EventSource": "egvsr.events.io.source",
    "write_events": "egvsr.events.io.writer",
    "EventWriter": "egvsr.events.io.writer",
    "describe": "egvsr.events.io.info",
    "summarize": "egvsr.events.io.info",
    "convert": "egvsr.events.io.converter",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
