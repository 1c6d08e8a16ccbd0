"""`egvsr demo` on a tiny configuration: folder contents, PSNR table, figure, refusals, fallback."""

from __future__ import annotations

import contextlib

import cv2
import pytest

from egvsr.render import demo as demo_mod
from egvsr.render.demo import run_demo, shipped_checkpoint
from egvsr.errors import CheckpointError, OutputExistsError


TINY = dict(seconds=0.12, size=(40, 56), scales=(2.0, 3.5), progress=False, echo=None)


@pytest.fixture(scope="module")
def tiny_ck(tmp_path_factory):
    from egvsr.render.model import save_untrained

    return save_untrained("egvsr-tiny", tmp_path_factory.mktemp("demo") / "tiny.pt")


def test_demo_writes_table_figure_videos_and_log(tiny_ck, tmp_path):
    out = tmp_path / "demo"
    res = run_demo(out, tiny_ck, **TINY)
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == [".egvsr-output", "figure.png", "log.txt", "results.md", "sample.h5", "x2/side_by_side.mp4", "x2/video.mp4",
                     "x3.5/side_by_side.mp4", "x3.5/video.mp4"]
    kinds = {(r["scale"], r["model"], r["kind"]) for r in res.rows}
    for s in (2.0, 3.5):
        for m in ("egvsr-tiny", "bicubic"):
            assert {(s, m, "frame"), (s, m, "between"), (s, m, "all")} <= kinds
    frames = {(r["scale"], r["kind"]): r["n"] for r in res.rows if r["model"] == "bicubic"}
    assert frames[(2.0, "frame")] == 4 and frames[(2.0, "between")] == 3  # 4 frames at twice the rate
    assert all(r["psnr"] > 5 and 0 < r["ssim"] <= 1 for r in res.rows)
    log = (out / "log.txt").read_text()
    for stage in ("[sample] done in", "[checkpoint] done in", "[render x2] done in", "[render x3.5] done in",
                  "[figure] done in", "PSNR / SSIM"):
        assert stage in log
    assert "| x3.5 | in-between GT times | 3 |" in (out / "results.md").read_text()
    fig = cv2.imread(str(out / "figure.png"))
    assert fig is not None and fig.shape[1] > fig.shape[0]
    cap = cv2.VideoCapture(str(out / "x3.5" / "side_by_side.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    cap.release()
    # an existing demo folder is refused, untouched
    before = (out / "results.md").read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        run_demo(out, tiny_ck, **TINY)
    assert (out / "results.md").read_bytes() == before


@contextlib.contextmanager
def _no_shipped_checkpoint():
    yield None


def test_shipped_checkpoint_is_a_small_safe_egvsr_checkpoint():
    from egvsr.engine.checkpoint_file import load_checkpoint

    with shipped_checkpoint() as shipped:
        assert shipped is not None, "egvsr/data/egvsr-sample.pt is missing from this install"
        assert shipped.stat().st_size < 5_000_000
        ck = load_checkpoint(shipped)
    assert ck["model"]["name"].startswith("egvsr")


def _no_sample(monkeypatch):
    import egvsr.events.simulate as sim

    monkeypatch.setattr(sim, "make_sample", lambda *a, **k: pytest.fail("made the sample before a check"))


def test_a_demo_too_long_to_render_is_refused_before_the_sample(tiny_ck, tmp_path, monkeypatch, capsys):
    from egvsr.cli import main

    import egvsr.events.simulate.sample as S

    _no_sample(monkeypatch)
    # a full disk too: the render limit, the same on every machine, is the one reported
    monkeypatch.setattr(S, "free_bytes", lambda folder: 1)
    out = tmp_path / "d"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--seconds", "900", "--device", "cpu",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "render would write 45001 frames of 344x260" in err
    assert "the demo renders all of its 900 s sample at x4: use fewer --seconds" in err
    assert not out.exists() and not list(tmp_path.glob(".*egvsr-partial*"))


def test_a_demo_sample_larger_than_the_free_space_is_refused_naming_seconds(tiny_ck, tmp_path, monkeypatch, capsys):
    import egvsr.events.simulate.sample as S
    from egvsr.cli import main

    _no_sample(monkeypatch)
    monkeypatch.setattr(S, "free_bytes", lambda folder: 1000)
    out = tmp_path / "d"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--seconds", "2", "--device", "cpu",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out / 'sample.h5'}: the sample would take up to about " in err
    assert "use fewer --seconds, or write elsewhere" in err and "--fps" not in err and not out.exists()


def test_a_demo_sample_too_short_advises_only_the_demo_s_own_option(tiny_ck, tmp_path, monkeypatch, capsys):
    """The demo fixes the sample's frame rate and size: its advice names --seconds, never make-sample's --fps."""
    from egvsr.cli import main

    _no_sample(monkeypatch)
    out = tmp_path / "d"
    assert main(["demo", "--checkpoint", str(tiny_ck), "--output", str(out), "--seconds", "0.01", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a sample needs at least two frames; give more --seconds\n" in err
    assert "--fps" not in err and not out.exists()


def test_missing_shipped_checkpoint_is_said_clearly(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_mod, "shipped_checkpoint", _no_shipped_checkpoint)
    _no_sample(monkeypatch)
    with pytest.raises(CheckpointError, match="egvsr-sample.pt is not in this install"):
        run_demo(tmp_path / "d", None, fallback=False, **TINY)
    assert not (tmp_path / "d").exists() and not list(tmp_path.glob(".*egvsr-partial*"))


def test_fallback_trains_a_tiny_model_and_labels_it(tiny_ck, tmp_path, monkeypatch):
    monkeypatch.setattr(demo_mod, "shipped_checkpoint", _no_shipped_checkpoint)
    calls = []

    def fake_train(sample, folder, minutes, device, progress, size):
        calls.append((sample.name, minutes, size))
        return tiny_ck

    monkeypatch.setattr(demo_mod, "train_fallback", fake_train)
    res = run_demo(tmp_path / "d", None, fallback_minutes=0.5, **TINY)
    assert calls == [("sample.h5", 0.5, (40, 56))]
    assert "fallback" in res.model_note
    assert "falling back to training egvsr-tiny" in (tmp_path / "d" / "log.txt").read_text()
    assert "fallback" in (tmp_path / "d" / "results.md").read_text()


@pytest.mark.slow
def test_fallback_training_config_is_accepted_by_the_trainer(tmp_path):
    from egvsr.render.model import load_render_model
    from egvsr.events.simulate import make_sample

    sample = make_sample(tmp_path / "s.h5", seed=0, seconds=0.16, size=(40, 56), progress=False)
    ck = demo_mod.train_fallback(sample, tmp_path / "fb", minutes=0.01, device="cpu", progress=False,
                                 size=(40, 56))
    rm = load_render_model(ck)
    assert rm.name == "egvsr-tiny" and rm.repr["bins"] == 8 and rm.num_frames == 3
