"""The frames-only control (`ignore_events: true`) takes no event tensor: None, zeros and any events give
the same output, and `render` / the checkpoint's input options read no events for it (as for VideoINR)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egvsr.models import build_model
from tests._model_helpers import give_residual_head_weights


def _control(name: str = "egvsr-tiny", **options):
    torch.manual_seed(0)
    return give_residual_head_weights(build_model(name, ignore_events=True, **options)).eval()


@pytest.mark.parametrize("name, options", [("egvsr-tiny", {}), ("egvsr-tiny", {"event_norm": "rms"}),
                                           ("egvsr-tiny", {"tf_mode": "naive", "local_ensemble": True}),
                                           ("egvsr-official", {"n_feats": 16, "inr_channels": 8, "moments": 4,
                                                               "lcb_depth": 1, "heads": 2, "tf_samples": 1,
                                                               "tf_hidden": 8})])
@pytest.mark.parametrize("method", ["forward", "render"])
def test_the_control_takes_none_and_gives_what_zeros_give(name, options, method):
    model = _control(name, **options)
    m, p = model.event_shape
    g = torch.Generator().manual_seed(1)
    lr = torch.rand(2, 3, 3, 7, 9, generator=g)
    times, size = torch.tensor([[-1.0, 0.3], [0.0, 1.0]]), (15, 20)
    zeros = torch.zeros(2, m, p, 7, 9)
    events = torch.rand(2, m, p, 7, 9, generator=g)
    assert model.uses_events is False
    with torch.no_grad():
        want = getattr(model, method)(lr, times, size, events=zeros)
        got_none = getattr(model, method)(lr, times, size)
        got_events = getattr(model, method)(lr, times, size, events=events)
        # an event tensor of another shape (a dataset's default bins) is not the control's business either
        got_other = getattr(model, method)(lr, times, size, events=torch.rand(2, m + 3, 1, 7, 9, generator=g))
    assert torch.equal(got_none, want) and torch.equal(got_events, want) and torch.equal(got_other, want)
    # and it is the same weights' event-model output on zero events
    full = build_model(model.config | {"ignore_events": False}).eval()
    full.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(getattr(full, method)(lr, times, size, events=zeros), want, atol=0, rtol=0)


def test_the_control_trains_without_events():
    model = _control()
    lr = torch.rand(1, 3, 3, 6, 8)
    out = model(lr, [0.25], (12, 16))
    out.mean().backward()
    grad = model.stf.image_head.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0  # the frames are learnt from
    # no event reaches the event head: its weights get a zero gradient (it sees the zeros the control feeds)
    assert model.stf.event_head.weight.grad is None or not model.stf.event_head.weight.grad.any()
    with torch.no_grad():  # a step against the gradient lowers the loss the gradient came from
        for p in model.parameters():
            if p.grad is not None:
                p -= 1e-3 * p.grad
        assert model(lr, [0.25], (12, 16)).mean() < out.mean()


def test_the_control_checkpoint_reads_no_events_and_renders_a_folder_without_them(tmp_path, capsys):
    import cv2

    from egvsr.cli import main
    from egvsr.engine.checkpoint_model import derive_inputs
    from egvsr.render.model import save_untrained

    ck = save_untrained("egvsr-tiny", tmp_path / "control.pt", ignore_events=True)
    model = build_model("egvsr-tiny", ignore_events=True)
    # the training config's event options do not matter to a model that reads none
    exp = {"data": {"train": {"bins": 32, "representation": "moments", "polarity": "split"}}}
    assert derive_inputs(model, exp["data"]["train"], "control.pt") == (3, {})
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((10, 12, 3), 40 * i, np.uint8))
    out = tmp_path / "out"
    rc = main(["render", str(folder), str(ck), "--fps", "25", "--scale", "2", "--png", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert len(list(out.glob("frame_*.png"))) == 3
