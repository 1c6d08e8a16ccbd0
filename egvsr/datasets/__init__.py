"""Aligned event/RGB recordings as training and evaluation samples (torch Datasets).

`open_recording` reads any supported recording lazily; `DatasetRoot` lists
recordings and splits; `EventVSRDataset` builds samples (LR frames, event tensor, query times, HR
targets at a scale); `ScaleBatchSampler` + `collate_samples` give one scale per batch. Public names load lazily.
"""

from __future__ import annotations

from egvsr._lazy import export_names, lazy_exports

_EXPORTS = {
    ".recording": ("Recording",),
    ".opening": ("open_recording",),
    ".root": ("DatasetRoot", "builtin_split", "builtin_splits"),
    ".vsr_dataset": ("EventVSRDataset",),
    ".sampler": ("ScaleBatchSampler", "SampleKey", "collate_samples"),
    ".degrade": ("downscale",),
    ".geometry": ("CropGeometry", "hr_size", "query_grid"),
}

__all__ = export_names(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
