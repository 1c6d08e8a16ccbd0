"""Adapters from on-disk layouts to `Recording`.

`SourceRecording` reads every layout that holds raw events through `egvsr.events.io`; `ADAPTERS`
names the layouts read otherwise. Which layout a file has is decided once, by
`egvsr.events.io.detect_layout`; `egvsr.datasets.open_recording` picks the adapter.
"""

from __future__ import annotations

from egvsr.datasets.adapters.event_source import SourceRecording
from egvsr.datasets.adapters.evtexture import EvTextureRecording
from egvsr.datasets.recording import Recording

#: layout name -> `Recording` class, for layouts without raw events (any other: `SourceRecording`)
ADAPTERS: dict[str, type[Recording]] = {"evtexture": EvTextureRecording}

__all__ = ["ADAPTERS", "EvTextureRecording", "SourceRecording"]
