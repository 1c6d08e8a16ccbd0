"""Helpers for the tests against the official code's fixtures in ../shared/data/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fixtures"
ATOL = RTOL = 1e-4  # the fixture README: float64 vs float32 of the official code differ by <= 1e-5


def load_fixture(name: str) -> dict[str, Tensor]:
    """A fixture file loaded safely, or skip (a user's clone has no ../shared)."""
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"official fixture {path} not found (../shared/data/fixtures exists only on project machines)")
    return torch.load(path, weights_only=True)


def official_weights(fixture: dict[str, Tensor]) -> dict[str, Tensor]:
    """The official state dict stored in a fixture (`weight.*`, or exact `qweight * qscale`)."""
    out = {k[len("weight."):]: v for k, v in fixture.items() if k.startswith("weight.")}
    for k, v in fixture.items():
        if k.startswith("qweight."):
            name = k[len("qweight."):]
            out[name] = v.float() * fixture[f"qscale.{name}"]
    return out


def official_shapes(fixture: dict[str, Tensor]) -> dict[str, Tensor]:
    """Zero tensors with the shapes listed in a key file (`shape.*`), in the official order."""
    return {k[len("shape."):]: torch.zeros(v.tolist()) for k, v in fixture.items() if k.startswith("shape.")}


def assert_close(ours: Tensor, official: Tensor, what: str) -> float:
    """Assert within the fixture tolerance; return the max abs error (printed with -s)."""
    assert ours.shape == official.shape, f"{what}: shape {tuple(ours.shape)} vs official {tuple(official.shape)}"
    err = float((ours - official).abs().max())
    torch.testing.assert_close(ours, official, atol=ATOL, rtol=RTOL, msg=lambda m: f"{what}: {m}")
    print(f"{what}: max abs error {err:.3g}")
    return err
