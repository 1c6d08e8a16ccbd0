"""Aligned event/RGB recordings as training and evaluation samples (torch Datasets).

`open_recording` (also `Recording.open`) reads any supported recording lazily; `DatasetRoot` lists
recordings and splits; `EventVSRDataset` builds samples (LR frames, event tensor, query times, HR
targets at a scale); `ScaleBatchSampler` + `collate_samples` give one scale per batch. Public names load lazily.
"""

from __future__ import annotations

from egvsr._lazy import lazy_exports
from egvsr.datasets import opening as _opening  # noqa: F401 - binds Recording.open

_EXPORTS = {
    "Recording": "egvsr.datasets.recording",
    "open_recording": "egvsr.datasets.opening",
    "DatasetRoot": "egvsr.datasets.root",
    "builtin_split": "egvsr.datasets.root",
    "builtin_splits": "egvsr.datasets.root",
    "EventVSRDataset": "egvsr.datasets.vsr_dataset",
    "ScaleBatchSampler": "egvsr.datasets.sampler",
    "SampleKey": "egvsr.datasets.sampler",
    "collate_samples": "egvsr.datasets.sampler",
    "downscale": "egvsr.datasets.degrade",
    "CropGeometry": "egvsr.datasets.geometry",
    "hr_size": "egvsr.datasets.geometry",
    "query_grid": "egvsr.datasets.geometry",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
