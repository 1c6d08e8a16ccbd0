"""Square attention windows of the fusion transformer (`window_size` > 0)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.errors import ConfigError
from egvsr.models import build_model
from egvsr.models import fusion_transformer as ft
from egvsr.models.fusion_transformer import PatchTransformer, balanced_spans, fold_tokens, overlap_count


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.integers(1, 40))
def test_balanced_spans_tile_the_axis_with_near_equal_windows(length, side):
    groups = balanced_spans(length, side)
    assert 1 <= len(groups) <= 2
    start = 0
    for g0, count, size in groups:
        assert g0 == start and count >= 1 and 1 <= size <= side
        start += count * size
    assert start == length
    sizes = {size for _, _, size in groups}
    assert max(sizes) - min(sizes) <= 1
    assert sum(count for _, count, _ in groups) == -(-length // side)


def reference_windows(block: PatchTransformer, x: torch.Tensor) -> torch.Tensor:
    """Each square window run alone through the layers, in a plain loop."""
    b, c, h, w = x.shape
    tokens = torch.nn.functional.unfold(x, 3, padding=1).transpose(1, 2)
    grid = tokens.reshape(b, h, w, -1)
    out = torch.empty_like(grid)
    rows = [(r0 + i * sr, sr) for r0, nr, sr in balanced_spans(h, block.window_size) for i in range(nr)]
    cols = [(c0 + j * sc, sc) for c0, nc, sc in balanced_spans(w, block.window_size) for j in range(nc)]
    for r, sr in rows:
        for cc, sc in cols:
            win = grid[:, r:r + sr, cc:cc + sc].reshape(b, sr * sc, -1)
            out[:, r:r + sr, cc:cc + sc] = block.layers(win).view(b, sr, sc, -1)
    y = fold_tokens(out.reshape(b, h * w, -1).contiguous(), h, w, 3)
    return y / overlap_count(h, w, 3, x.device, y.dtype) if block.fold == "mean" else y


@pytest.mark.parametrize("size", [(16, 16), (21, 35), (5, 40), (1, 1)])
def test_batched_square_windows_equal_each_window_run_alone(size, monkeypatch):
    torch.manual_seed(0)
    block = PatchTransformer(4, heads=2, window_size=6).eval()
    monkeypatch.setattr(ft, "WINDOW_BATCH_TOKENS", 50)  # several layer calls per window shape
    x = torch.rand(2, 4, *size)
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference_windows(block, x), rtol=1e-5, atol=1e-6)


def test_one_square_window_covering_the_map_equals_one_strip():
    """A model trained on 16-px patches (one strip each) sees the same windows with window_size 16."""
    torch.manual_seed(0)
    block = PatchTransformer(8, heads=2, window_tokens=1400).eval()
    x = torch.rand(3, 8, 16, 16)
    with torch.no_grad():
        strip = block(x)
        block.window_size = 16
        torch.testing.assert_close(block(x), strip, rtol=1e-6, atol=1e-6)


def test_square_windows_are_local():
    torch.manual_seed(0)
    block = PatchTransformer(4, heads=2, window_size=4).eval()
    x = torch.rand(1, 4, 12, 12)
    x2 = x.clone()
    x2[0, :, 0, 0] += 1.0  # a pixel of the top-left 4x4 window
    with torch.no_grad():
        changed = (block(x2) - block(x)).abs().sum(1)[0] > 0
    # the window's tokens and one pixel of fold around them move; nothing else does
    assert changed[:4, :4].all()
    assert not changed[5:].any() and not changed[:, 5:].any()


def test_window_size_is_an_egvsr_option_and_not_an_official_one():
    model = build_model("egvsr-tiny", window_size=8)
    assert all(m.window_size == 8 for m in model.modules() if isinstance(m, PatchTransformer))
    with pytest.raises(ConfigError, match="window_size"):
        build_model("egvsr-official", window_size=8)


def test_ship_weights_stores_a_window_size_and_keeps_the_weights(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint

    root = Path(__file__).resolve().parents[2]
    model = build_model("egvsr-tiny")
    src, dst = tmp_path / "last.pt", tmp_path / "shipped.pt"
    save_checkpoint(src, {"model": {"name": "egvsr-tiny", "config": model.config}, "state_dict": model.state_dict(),
                          "ema": None, "step": 7, "experiment": {}})
    cmd = [sys.executable, str(root / "scripts" / "ship_weights.py"), str(src), str(dst), "--option", "window_size=8"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=root, env={"PYTHONPATH": str(root), "PATH": ""})
    ck = load_checkpoint(dst)
    assert ck["model"]["config"]["window_size"] == 8 and ck["step"] == 7
    shipped = build_model(ck["model"]["config"])
    shipped.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    assert all(m.window_size == 8 for m in shipped.modules() if isinstance(m, PatchTransformer))
    from tests._model_helpers import run_script

    code, _, err = run_script("ship_weights.py", src, dst, "--option", "window_size=-1", "--overwrite")
    assert code == 2 and "window_size" in err and "Traceback" not in err


def test_a_model_trains_the_same_numbers_with_square_windows_on_patches_that_fit_one():
    """docs/training.md (stage 6) and docs/models.md: on 19-px training patches (361 tokens, one strip),
    `window_size: 19` gives the same outputs and the same gradients, in training mode, batch 4."""
    from tests._model_helpers import give_residual_head_weights

    torch.manual_seed(0)
    strips = give_residual_head_weights(build_model("egvsr-tiny")).train()
    squares = build_model(dict(strips.config, window_size=19)).train()
    squares.load_state_dict(strips.state_dict())
    lr, events = torch.rand(4, 3, 3, 19, 19), torch.randn(4, 8, 2, 19, 19)
    times, target = torch.tensor([[-1.0, 0.3]] * 4), torch.rand(4, 2, 3, 76, 76)
    for model in (strips, squares):
        (model(lr, times, (76, 76), events=events) - target).abs().mean().backward()
    torch.testing.assert_close(squares(lr, times, (76, 76), events=events),
                               strips(lr, times, (76, 76), events=events), rtol=0, atol=1e-6)
    grads = dict(strips.named_parameters())
    for key, p in squares.named_parameters():
        torch.testing.assert_close(p.grad, grads[key].grad, rtol=1e-5, atol=1e-7, msg=key)
