"""`egvsr eval` and training's validation refuse, before any scoring, what scoring would fail on or
report wrongly: outputs the protocol cannot score, samples beyond memory, `gt` queries without ground
truth, clashing clip names, validation scales above the model's max_scale."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from egvsr.engine.evaluation import evaluate_checkpoint, eval_options
from egvsr.engine.protocol import AVERAGES
from egvsr.engine.tables import QUERIES_TEXT
from egvsr.errors import ConfigError


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    from egvsr.events.simulate import make_sample
    from egvsr.render.model import save_untrained

    d = tmp_path_factory.mktemp("eval-inputs")
    return {"rec": make_sample(d / "rec.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0, progress=False),
            "tiny": make_sample(d / "tiny.h5", seed=2, seconds=0.12, size=(16, 16), fps=25.0, progress=False),
            "ck": save_untrained("egvsr-tiny", d / "ck.pt"), "dir": d}


def _eval(recs, data, **kw):
    kw = {"scales": [2], "with_bicubic": False, "progress": False, "log": None, "limit": 1, **kw}
    return evaluate_checkpoint(None, [str(p) for p in data], **kw)


def test_preset_values_are_checked_naming_the_file_and_key(tmp_path):
    for text, expect in (("protocol: [ours]\n", "p.yaml: protocol ['ours']: unknown protocol"),
                         ("scales: 4\n", "p.yaml: scales 4: expected a list of scales"),
                         ("scales: [true]\n", "p.yaml: scales: True is not a number"),
                         ("scales: abc\n", "p.yaml: scales 'abc': expected a list")):
        (tmp_path / "p.yaml").write_text(text)
        with pytest.raises(ConfigError, match=expect.replace("[", r"\[").replace("]", r"\]")):
            eval_options(tmp_path / "p.yaml")
    with pytest.raises(ConfigError, match=r"checkpoint x.pt: eval.scales: 'big' is not a number"):
        eval_options(checkpoint_eval={"scales": ["big"]}, checkpoint_where="checkpoint x.pt: eval")
    assert eval_options(checkpoint_eval={"scales": ["big"]}, scales=[3])["scales"] == [3.0]  # overridden: unused


def test_a_recording_too_small_for_the_protocol_is_refused_before_scoring(recs):
    with pytest.raises(ConfigError, match=r"tiny.h5 \(16x16 frames\) at scale x2: its 16x16 output is smaller "
                                          r"than protocol 'ours' can score \(at least 19x19"):
        _eval(recs, [recs["rec"], recs["tiny"]], limit=None)
    assert _eval(recs, [recs["tiny"]], protocol="videoinr")  # no border crop: 16x16 scores


def test_a_sample_beyond_memory_is_refused_naming_file_size_and_scale(recs, monkeypatch):
    monkeypatch.setattr("egvsr.models.call_memory.physical_memory", lambda: 10**6)  # budget: 80%, 800 kB
    with pytest.raises(ConfigError, match=r"rec.h5 \(56x40 frames\) at scale x2: scoring one whole-frame sample "
                                          r"with 'egvsr-small' needs at least .* of LR feature maps at 28x20"):
        _eval(recs, [recs["rec"]], device="cpu")


def test_gt_queries_without_ground_truth(recs, tmp_path):
    from egvsr.events.simulate import make_sample

    plain = make_sample(tmp_path / "plain.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0,
                        gt_per_interval=0, progress=False)
    with pytest.raises(ConfigError, match="`queries` gt: no ground-truth frames in .*plain.h5"):
        _eval(recs, [plain], queries="gt")
    lines: list[str] = []
    _eval(recs, [recs["rec"], plain], queries="gt", log=lines.append)
    assert any("skipping" in line and "plain.h5" in line for line in lines)


def test_same_file_names_stay_distinct_clips_and_a_path_twice_is_refused(recs, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(recs["rec"], tmp_path / sub / "clip.h5")
    rows = _eval(recs, [tmp_path / "a" / "clip.h5", tmp_path / "b" / "clip.h5"], limit=None)
    assert {r["clip"] for r in rows} == {"a/clip.h5", "b/clip.h5", "average"}
    with pytest.raises(ConfigError, match="is given twice"):
        _eval(recs, [tmp_path / "a" / "clip.h5", tmp_path / "a" / ".." / "a" / "clip.h5"])


def test_scales_twice_and_unknown_protocol_refused_before_the_weights_load(recs, monkeypatch):
    def no_load(*a, **k):
        raise AssertionError("weights loaded")

    monkeypatch.setattr("egvsr.engine.evaluation.model_from_checkpoint", no_load)
    with pytest.raises(ConfigError, match="`scales`: scale 2 is given twice"):
        _eval(recs, [recs["rec"]], scales=[2, 2.0])
    with pytest.raises(ConfigError, match="`protocol` 'foo': unknown protocol"):
        _eval(recs, [recs["rec"]], protocol="foo")


def test_gt_queries_say_how_many_ground_truth_frames_lie_outside_the_frames(recs, tmp_path):
    import h5py

    some, none = tmp_path / "some.h5", tmp_path / "none.h5"
    for path in (some, none):
        shutil.copy(recs["rec"], path)
    with h5py.File(some, "a") as f:  # frames at 0..120000 µs, 9 ground-truth frames between them
        f["gt/t"][0], f["gt/t"][-1] = -5000, 130000
    with h5py.File(none, "a") as f:
        f["gt/t"][:] = -10000 * np.arange(len(f["gt/t"]), 0, -1)  # all before the first frame
    lines: list[str] = []
    rows = _eval(recs, [some], queries="gt", scales=[2, 3], limit=None, log=lines.append)
    outside = [line for line in lines if "outside" in line]
    assert outside == [f"queries gt: {some}: 2 of 9 ground-truth frames lie outside the frames' span "
                       "(0..120000 µs) and are not scored"]  # once, not once per scale
    assert {r["frames"] for r in rows} == {4 + 7}  # every frame and the 7 ground-truth frames inside
    with pytest.raises(ConfigError, match=r"`queries` gt: no ground-truth frames in .*none.h5 between its frames "
                                          r"\(those outside the frames or at frame times are not scored\)"):
        _eval(recs, [none], queries="gt")
    lines.clear()
    _eval(recs, [some, none], queries="gt", log=lines.append)
    assert f"queries gt: skipping {none} (no ground-truth frames between its frames)" in lines


def test_events_on_another_clock_than_the_frames_warn_once_on_stderr(recs, tmp_path, capsys):
    from egvsr.events.io import open_events, write_events
    from egvsr.events.stream import EventStream

    with open_events(recs["rec"]) as src:
        s, frames = src.read(), src.read_frames()
    unix = write_events(tmp_path / "unix.h5", EventStream(s.x, s.y, s.t + 1_700_000_000_000_000, s.p, s.width,
                                                          s.height), frames)
    rows = _eval(recs, [unix], scales=[2, 3])
    err = capsys.readouterr().err.strip().splitlines()
    assert rows and err == [f"egvsr: warning: {unix}: no event falls within the frames' span (events "
                            f"{int(s.t[0]) + 1_700_000_000_000_000}..{int(s.t[-1]) + 1_700_000_000_000_000} µs, "
                            "frames 0..120000 µs), so the event tensors will be zero; are the clocks of events and "
                            "frames aligned?"]
    _eval(recs, [recs["rec"]])
    assert capsys.readouterr().err == ""


def test_a_checkpoint_without_training_options_is_scored_with_the_inputs_its_model_takes(recs):
    """An untrained checkpoint states no dataset options: eval derives the event tensor from the model
    (egvsr-tiny: 8 bins), as render does, instead of the dataset's 32-bin default."""
    rows = evaluate_checkpoint(recs["ck"], [str(recs["rec"])], scales=[2], with_bicubic=False, progress=False,
                               log=None, limit=1)
    assert rows and all(np.isfinite(r["psnr"]) for r in rows)


def test_an_interrupted_eval_keeps_every_earlier_result_file(recs, tmp_path, monkeypatch):
    """The three result files are committed together: an interrupt while the plot (written last) is drawn
    leaves all three earlier files as they were, not new tables beside the old plot."""
    from egvsr.engine.evaluation import RESULT_FILES
    from egvsr.fsutil import TEMP_MARK

    out = tmp_path / "ev"
    _eval(recs, [recs["rec"]], output=out)
    (out / "notes.txt").write_text("mine\n")  # a file of the user's in the results folder stays
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("egvsr.plots.curves.draw_metric_vs_scale", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _eval(recs, [recs["rec"]], output=out, overwrite=True, scales=[2, 3], with_bicubic=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(before) == sorted([*RESULT_FILES, "notes.txt"])
    assert not list(tmp_path.rglob(f"*{TEMP_MARK}*"))


def test_an_unwritable_output_folder_is_refused_before_scoring(recs, tmp_path, monkeypatch):
    import errno
    import os

    from egvsr.errors import OutputError

    def read_only(*args, **kwargs):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    def scored(*args, **kwargs):
        raise AssertionError("scored before the output folder was probed")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    monkeypatch.setattr("egvsr.engine.evaluation.model_from_checkpoint", scored)
    monkeypatch.setattr("egvsr.engine.evaluation.evaluate", scored)
    ev = re.escape(str(tmp_path / "ev"))
    with pytest.raises(OutputError, match=rf"^{ev}/results.md: cannot create the output in {ev} "
                                          r"\(permission denied\); choose another path$"):
        _eval(recs, [recs["rec"]], output=tmp_path / "ev")
    assert list(tmp_path.iterdir()) == []  # the folder it made for them is gone again


def _cli_error(argv: list[str], capsys) -> str:
    from egvsr.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("egvsr: error: "), err
    return err[0][len("egvsr: error: "):]


def test_scales_above_the_cap_name_where_they_came_from(recs, tmp_path, capsys):
    """The cap is known only once the model is loaded; the error still names the preset file's key or the
    checkpoint's eval.scales, not --scales, which was never given."""
    from egvsr.engine.checkpoint_file import load_checkpoint, save_checkpoint

    preset = tmp_path / "p.yaml"
    preset.write_text("scales: [1000]\n")
    base = ["eval", str(recs["ck"]), "--data", str(recs["rec"]), "--no-progress"]
    assert _cli_error(base + ["--config", str(preset)], capsys).startswith(
        f"{preset}: scales 1000: above the cap of model 'egvsr-tiny' (max_scale 16, from checkpoint")
    ck = load_checkpoint(recs["ck"])
    ck["experiment"] = {"eval": {"scales": [2, 1000]}}
    asked = save_checkpoint(tmp_path / "asked.pt", {k: v for k, v in ck.items() if k not in ("format", "version")})
    line = _cli_error(["eval", str(asked), "--data", str(recs["rec"]), "--no-progress"], capsys)
    assert line.startswith(f"checkpoint {asked}: eval.scales 1000: above the cap") and "give --scales" not in line
    assert line.endswith("lower it to at most 16 there, or override it with --scales")
    assert _cli_error(base + ["--scales", "1000"], capsys).startswith("--scales 1000: above the cap")
    with pytest.raises(ConfigError, match="^`scales` 1000: above the cap"):  # the library's own argument
        evaluate_checkpoint(recs["ck"], [str(recs["rec"])], scales=[1000], progress=False, log=None)


def test_bad_data_entries_name_the_data_option(recs, capsys):
    """`--data` is the option: no `--data.recordings`, which is neither a flag nor a key of eval."""
    for entry, said in (("sample:-1", "--data: 'sample:-1': the seed must be an integer"),
                        ("nothere.h5", "--data: nothere.h5 does not exist")):
        line = _cli_error(["eval", str(recs["ck"]), "--data", entry, "--no-progress"], capsys)
        assert line.startswith(said) and "recordings" not in line


def test_a_recording_of_which_nothing_would_be_scored_is_refused_by_name(recs, monkeypatch):
    """Rows of nan over 0 frames and exit 0 were the result; the readers now refuse the frame times that led
    there, so the guard is reached here by giving the dataset no items."""
    monkeypatch.setattr("egvsr.datasets.vsr_dataset.eval_items", lambda recordings, targets, k: [])
    with pytest.raises(ConfigError, match=r"^--data .*rec.h5: no frame of this recording can be scored at x2 \(no "
                                          r"target time lies within its frames' span 0..120000 µs\)"):
        _eval(recs, [recs["rec"]])


def test_an_evtexture_file_is_scored_at_its_paired_scale_and_another_scale_names_scales(tmp_path):
    """EvTexture files pair LR and HR at a fixed scale: eval scores them there (it used to ask the dataset
    for the range (1, s), which the pairing refused at every scale); another scale names `scales`."""
    from egvsr.render.model import save_untrained
    from tests.datasets.test_files import write_evtexture

    hr = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    _, lr = write_evtexture(tmp_path / "evt", "clip", hr, 4)  # 5 bins per interval, 3 frames: 10 x 1
    ck = save_untrained("egvsr-tiny", tmp_path / "evt.pt", moments=10, polarities=1)
    kw = {"with_bicubic": False, "progress": False, "log": None}
    rows = evaluate_checkpoint(ck, [str(lr)], scales=[4], **kw)
    assert [r["scale"] for r in rows if r["clip"] == "average"] == [4.0]
    assert np.isfinite(rows[-1]["psnr"])
    with pytest.raises(ConfigError, match=r"^`scales` 2: --data .*clip.h5 pairs LR and HR at x4 \(an EvTexture "
                                          r"file\), so it is scored at x4 only; give `scales` 4$"):
        evaluate_checkpoint(ck, [str(lr)], scales=[4, 2], **kw)
    other = save_untrained("egvsr-tiny", tmp_path / "tiny.pt")  # takes 8 x 2 moments, not the stored voxels
    with pytest.raises(ConfigError, match=r"clip.h5: its stored voxels give 10 time bins x 1 channel \(2 intervals "
                                          r"of 5 bins\), but model 'egvsr-tiny' takes 8 x 2"):
        evaluate_checkpoint(other, [str(lr)], scales=[4], **kw)


def test_a_recording_name_that_is_not_utf8_is_written_to_the_results(recs, tmp_path):
    """A file name's bytes that are not UTF-8 are written as `\\xNN` in results.md and results.csv (it
    failed with UnicodeEncodeError once all the scoring was done)."""
    import os

    odd = tmp_path / os.fsdecode(b"clip_\xff.h5")
    shutil.copy(recs["rec"], odd)
    _eval(recs, [odd], output=tmp_path / "ev")
    for name in ("results.md", "results.csv"):
        assert "clip_\\xff" in (tmp_path / "ev" / name).read_text(encoding="utf-8")


def test_repeated_list_options_add_their_values(recs, tmp_path, capsys, monkeypatch):
    """`--data A --data B` scores both (argparse kept only B), and likewise `--scales`; a recording or
    scale given twice across them is still refused."""
    from egvsr.cli import main

    seen = {}

    def scored(checkpoint, data, scales, **kwargs):
        seen.update(data=data, scales=scales)

    monkeypatch.setattr("egvsr.engine.evaluation.evaluate_checkpoint", scored)
    other = shutil.copy(recs["rec"], tmp_path / "other.h5")
    assert main(["eval", "--data", str(recs["rec"]), "--data", str(other), "--scales", "2", "--scales", "3"]) == 0
    assert seen == {"data": [str(recs["rec"]), str(other)], "scales": [2.0, 3.0]}
    monkeypatch.undo()
    assert _cli_error(["eval", "--data", str(recs["rec"]), "--data", str(recs["rec"])], capsys) == \
        f"--data: {recs['rec']} is given twice; give each recording once"
    assert _cli_error(["eval", "--data", str(recs["rec"]), "--scales", "2", "--scales", "2"], capsys) == \
        "--scales: scale 2 is given twice; give each scale once"


# ---- results that mislead or replace an input ---------------------------------------------------------------
def _rgb(path, gt_t=None):
    """The 32x40 recording of 5 frames 40 ms apart, with one ground-truth frame in each interval (or at `gt_t`)."""
    from tests.datasets.test_files import random_events, textured_frames, write_egvsr

    ft = np.arange(5) * 40000
    gt_t = ft[:-1] + 20000 if gt_t is None else np.asarray(gt_t)
    return write_egvsr(path, textured_frames(5, 32, 40, seed=1), ft, random_events(3000, 32, 40, 0, 170000, seed=2),
                       40, 32, gt=textured_frames(len(gt_t), 32, 40, seed=3), gt_t=gt_t)


def test_a_library_call_never_writes_its_results_over_the_checkpoint(recs, tmp_path):
    """The CLI refused it; the library replaced the checkpoint by results.csv."""
    from egvsr.errors import OutputExistsError

    (tmp_path / "lib").mkdir()
    ck = tmp_path / "lib" / "results.csv"
    shutil.copy(recs["ck"], ck)
    before = ck.read_bytes()
    with pytest.raises(OutputExistsError, match=r"results.csv: output is the input file .*results.csv; choose another"):
        evaluate_checkpoint(ck, [str(recs["rec"])], [2], output=tmp_path / "lib", overwrite=True, progress=False,
                            log=None)
    assert ck.read_bytes() == before


def test_a_clip_named_average_is_not_taken_for_the_summary_row(recs, tmp_path):
    (tmp_path / "avg").mkdir()
    shutil.copy(recs["rec"], tmp_path / "avg" / "average.h5")
    shutil.copy(recs["rec"], tmp_path / "b.h5")
    rows = _eval(recs, [tmp_path / "avg" / "average.h5", tmp_path / "b.h5"], limit=None, output=tmp_path / "r")
    assert [r["clip"] for r in rows] == ["avg/average.h5", "b", "average"]
    table = (tmp_path / "r" / "results.md").read_text()
    assert "| avg/average.h5 | x2 |" in table and "| b | x2 |" in table and table.count("| average |") == 1
    assert (tmp_path / "r" / "results.csv").read_text().count(",average,") == 1


def test_clip_labels_are_distinct_and_never_the_summary_label(tmp_path):
    from pathlib import Path
    from types import SimpleNamespace

    from egvsr.engine.scoring import label_clips

    def labels(*paths: str) -> list[str]:
        recs = [SimpleNamespace(path=Path(p), name=Path(p).stem) for p in paths]
        label_clips(recs)
        return [r.name for r in recs]

    assert labels("avg/average.h5", "b.h5") == ["avg/average.h5", "b"]  # alone, it still is not the summary
    assert labels("average", "clip.h5") == ["/average", "clip"]
    names = labels("average", "x/average.h5", "y/average.h5", "clip.h5", "average.h5.h5", "z/average.h5.h5")
    assert len(set(names)) == len(names) and "average" not in names and names[3] == "clip"


def test_a_limited_gt_run_scores_ground_truth_too(recs, tmp_path):
    """One ground-truth frame per interval alternates with the frames: one even spread over both landed on
    the frame times alone, so --queries gt --limit 5 scored what --queries middle does."""
    from types import SimpleNamespace

    from egvsr.datasets.items import Item
    from egvsr.engine.evaluation import limited_items

    rgb = _rgb(tmp_path / "rgb.h5")
    gt, middle = (_eval(recs, [rgb], queries=q, limit=5)[-1] for q in ("gt", "middle"))
    assert gt["frames"] == middle["frames"] == 5 and abs(gt["psnr"] - middle["psnr"]) > 1

    ds = SimpleNamespace(recordings=[SimpleNamespace(frame_times=np.arange(5) * 40000)],
                         items=[Item(0, 0, t) for t in range(0, 160001, 20000)])
    picks = limited_items(_Sized(ds), 5, "gt")
    kinds = ["gt" if ds.items[i].target_us % 40000 else "frame" for i in picks]
    assert len(picks) == 5 and kinds.count("gt") == 2 and kinds.count("frame") == 3  # 4 of 9 items are gt
    assert [ds.items[i].target_us % 40000 != 0 for i in limited_items(_Sized(ds), 1, "gt")] == [True]
    assert limited_items(_Sized(ds), 5, "middle") == [0, 2, 4, 6, 8]


class _Sized:
    """A dataset stand-in: items, recordings and a length."""

    def __init__(self, ds):
        self.items, self.recordings = ds.items, ds.recordings

    def __len__(self):
        return len(self.items)


def test_ground_truth_at_frame_times_is_said_not_to_be_scored(recs, tmp_path):
    lines: list[str] = []
    some = _rgb(tmp_path / "some.h5", gt_t=[0, 20000, 40000, 60000])
    rows = _eval(recs, [some], queries="gt", limit=None, log=lines.append)
    assert (f"queries gt: {some}: 2 of 4 ground-truth frames lie exactly at frame times and are not scored (the "
            "frame at that time is the target there)") in lines
    assert rows[-1]["frames"] == 5 + 2
    only = _rgb(tmp_path / "only.h5", gt_t=[0, 40000])
    with pytest.raises(ConfigError, match=r"`queries` gt: no ground-truth frames in .*only.h5 between its frames"):
        _eval(recs, [only], queries="gt")


@pytest.mark.parametrize("data, said", [
    (["sample:1", "sample:01"], "`data`: sample:01 is given twice (as sample:1)"),
    (["sample:+1"], "`data`: 'sample:+1' should be sample:SEED with SEED plain decimal digits"),
    (["sample: 1"], "`data`: 'sample: 1' should be sample:SEED"),
    (["sample:1_0"], "`data`: 'sample:1_0' should be sample:SEED"),
    (["sample:١"], "`data`: 'sample:١' should be sample:SEED"),
    (["synthetic:train:0-2", "synthetic:train:2"], "`data`: synthetic:train:2 is given twice (as synthetic:train:0-2)"),
])
def test_one_recording_written_two_ways_is_refused(recs, monkeypatch, data, said):
    monkeypatch.setattr("egvsr.engine.evaluation.model_from_checkpoint",
                        lambda *a, **k: pytest.fail("checked after the weights load"))
    with pytest.raises(ConfigError, match="^" + said.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        _eval(recs, data)


def test_a_hard_link_to_a_recording_given_is_refused(recs, tmp_path):
    import os

    os.link(recs["rec"], tmp_path / "h.h5")
    with pytest.raises(ConfigError, match=r"`data`: .*h.h5 is given twice \(as .*rec.h5, the same file\)"):
        _eval(recs, [recs["rec"], tmp_path / "h.h5"])


def test_a_full_disk_while_writing_the_results_is_one_line(recs, tmp_path, monkeypatch):
    """matplotlib's (PIL's) and Python's writes failing with ENOSPC were tracebacks."""
    import errno
    import os

    from egvsr.errors import OutputError

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", full)
    ev = re.escape(str(tmp_path / "ev"))
    with pytest.raises(OutputError, match=rf"^{ev}/psnr_vs_scale.png: cannot write the output \(the disk "
                                          r"is full\); nothing was written under this name"):
        _eval(recs, [recs["rec"]], output=tmp_path / "ev")
    monkeypatch.setattr("pathlib.Path.write_text", full)
    with pytest.raises(OutputError, match=rf"^{ev}/results.md: cannot write the output \(the disk is full"):
        _eval(recs, [recs["rec"]], output=tmp_path / "ev")
    assert not (tmp_path / "ev").exists()


def test_sizes_read_width_x_height_and_a_scale_is_shown_as_it_is_checked(recs, tmp_path, capsys):
    """The frames were named 40x32 (width x height) and their output 26x39 (height x width)."""
    rgb = _rgb(tmp_path / "rgb.h5")
    with pytest.raises(ConfigError, match=r"rgb.h5 \(40x32 frames\) at scale x6.5: its 39x26 output is smaller"):
        _eval(recs, [rgb], scales=[6.5], protocol="evtexture")
    line = _cli_error(["eval", str(recs["ck"]), "--data", str(recs["rec"]), "--scales", "16.000000001",
                       "--no-progress"], capsys)
    assert line.startswith("--scales 16.000000001: above the cap of model 'egvsr-tiny' (max_scale 16")
    from egvsr.engine.tables import fmt_scale

    assert [fmt_scale(s) for s in (2.0, 6.5, 16.000000001, 1 / 3)] == ["2", "6.5", "16.000000001", "0.3333333333333333"]


def test_clip_names_with_a_pipe_or_line_break_keep_their_table_row():
    from egvsr.engine.tables import markdown_table

    rows = [{"model": "m", "scale": 2.0, "clip": c, "psnr": 30.0, "ssim": 0.9, "frames": 1}
            for c in ("a|b", "n\nl", "average")]
    lines = markdown_table(rows, "ours").splitlines()
    assert lines[4:] == ["| a\\|b | x2 | 30.00 / 0.9000 |", "| n\\nl | x2 | 30.00 / 0.9000 |",
                         "| average | x2 | 30.00 / 0.9000 |"]


def test_special_files_as_checkpoint_or_preset_are_named_and_devices_name_the_option(recs, tmp_path, capsys):
    import os

    fifo = tmp_path / "fifo1"
    os.mkfifo(fifo)
    base = ["--data", str(recs["rec"]), "--no-progress"]
    assert _cli_error(["eval", str(fifo), *base], capsys) == (
        f"{fifo}: is a FIFO (named pipe), not a regular file or folder; expected a checkpoint file (.pt) "
        "(it is not opened)")
    assert "is a character device" in _cli_error(["eval", "/dev/zero", *base], capsys)
    assert _cli_error(["eval", str(recs["ck"]), "--config", str(fifo), *base], capsys).startswith(
        f"{fifo}: is a FIFO (named pipe), not a regular file or folder; expected the evaluation config")
    assert _cli_error(["eval", str(recs["ck"]), "--device", "bogus", *base], capsys) == (
        "--device 'bogus': expected auto, cpu, cuda, cuda:N or mps")


def test_results_say_which_times_were_scored_and_hold_the_numbers_computed(recs, tmp_path):
    """`--queries middle` and `gt` score different frames; results.md said only the protocol, so the two read
    alike. Its numbers are the CSV's, and each average row is the mean of its clips' rows."""
    import csv

    shutil.copy(recs["rec"], tmp_path / "b.h5")
    for queries in ("middle", "gt"):
        out = tmp_path / queries
        rows = _eval(recs, [recs["rec"], tmp_path / "b.h5"], queries=queries, scales=[2, 6.5000001], limit=None,
                     with_bicubic=True, output=out)
        table = (out / "results.md").read_text().splitlines()
        assert table[0] == (f"Protocol: ours; queries: {queries} ({QUERIES_TEXT[queries]}); "
                            f"average: {AVERAGES['clips']}")
        with (out / "results.csv").open(newline="") as f:
            written = list(csv.DictReader(f))
        assert [(r["model"], float(r["scale"]), r["clip"], float(r["psnr"]), float(r["ssim"]), int(r["frames"]))
                for r in written] == [tuple(r.values()) for r in rows]
        for scale in (2.0, 6.5000001):
            shown = "x2" if scale == 2 else "x6.5000001"  # never x6.5: that is not the scale scored
            models = list(dict.fromkeys(r["model"] for r in rows))  # the shipped model, then bicubic
            assert len(models) == 2 and models[1] == "bicubic"
            for model in models:
                mine = [r for r in rows if r["scale"] == scale and r["model"] == model]
                clips, (avg,) = mine[:-1], mine[-1:]
                assert len(clips) == 2 and avg["clip"] == "average"
                assert avg["psnr"] == pytest.approx(np.mean([r["psnr"] for r in clips]), abs=1e-12)
                assert avg["ssim"] == pytest.approx(np.mean([r["ssim"] for r in clips]), abs=1e-12)
                assert avg["frames"] == sum(r["frames"] for r in clips)
            line = next(t for t in table if t.startswith(f"| average | {shown} |"))
            cells = {r["model"]: f"{r['psnr']:.2f} / {r['ssim']:.4f}" for r in rows
                     if r["scale"] == scale and r["clip"] == "average"}
            assert line == f"| average | {shown} | {cells[models[0]]} | {cells['bicubic']} |"
        assert (out / "psnr_vs_scale.png").stat().st_size > 0


@pytest.mark.parametrize("key, value", [("with_bicubic", "no"), ("progress", "no"), ("overwrite", 0)])
def test_a_flag_that_is_not_a_bool_is_refused_naming_it(recs, tmp_path, key, value):
    """`with_bicubic="no"` scored bicubic beside the model (the string is truthy), as every flag taken by its
    truth; each is refused before any work, as the other library calls refuse theirs."""
    with pytest.raises(ConfigError, match=rf"^`{key}` {re.escape(repr(value))}: expected True or False$"):
        _eval(recs, [recs["rec"]], **{key: value})


def test_a_numpy_integer_limit_is_taken(recs):
    """np.int64(1) is a positive number of samples; it was refused as not one ("`limit` 1: expected a positive
    number"), a message that contradicted itself."""
    assert _eval(recs, [recs["rec"]], limit=np.int64(1))[-1]["frames"] == 1


def test_a_limit_gives_every_recording_its_share():
    """--limit spread one even sweep over all items, so short recordings between long ones got none: with 4
    samples over recordings of 10, 1, 1 and 10 items, two recordings had no rows and the clips' average was
    over the other two. Each recording now gets its share, at least one when the limit allows it."""
    from types import SimpleNamespace

    from egvsr.datasets.items import Item
    from egvsr.engine.evaluation import limited_items

    def dataset(sizes):
        items = [Item(r, 0, 40000 * t) for r, n in enumerate(sizes) for t in range(n)]
        recs = [SimpleNamespace(frame_times=np.arange(n) * 40000) for n in sizes]
        return _Sized(SimpleNamespace(items=items, recordings=recs))

    for queries in ("middle", "gt"):
        ds = dataset([10, 1, 1, 10])
        picks = limited_items(ds, 4, queries)
        assert sorted(ds.items[i].rec for i in picks) == [0, 1, 2, 3]
        picks = limited_items(ds, 8, queries)  # 4 left: 9/18 each to the long ones
        assert sorted(ds.items[i].rec for i in picks) == [0, 0, 0, 1, 2, 3, 3, 3]
        assert [ds.items[i].start + ds.items[i].target_us for i in picks if ds.items[i].rec == 0] == [0, 160000,
                                                                                                     360000]
        ds = dataset([5, 5, 5])
        assert sorted(ds.items[i].rec for i in limited_items(ds, 2, queries)) == [0, 2]  # spread over recordings
    # queries gt over two recordings (frames every 40 ms, ground truth between): one sample each, and still a
    # ground-truth time and a frame time, as the limit promises for one recording
    items = [Item(r, 0, 20000 * t) for r in (0, 1) for t in range(9)]
    ds = _Sized(SimpleNamespace(items=items, recordings=[SimpleNamespace(frame_times=np.arange(5) * 40000)] * 2))
    picks = limited_items(ds, 2, "gt")
    assert sorted((items[i].rec, items[i].target_us % 40000 == 0) for i in picks) == [(0, False), (1, True)]


@pytest.mark.parametrize("chunk", ["x", [4], 1.5])
def test_a_chunk_size_that_is_no_whole_number_is_refused_in_one_line(recs, chunk):
    """A chunk_size of "x" reached the memory estimate first and ended in a TypeError from a comparison."""
    with pytest.raises(ConfigError, match=r"^chunk_size: expected a positive integer number of pixels, got "):
        _eval(recs, [recs["rec"]], chunk_size=chunk)


@pytest.mark.parametrize("kw, said", [
    ({"data": []}, r"^`data`: expected a list of recordings \(paths, sample:N or synthetic:\.\.\.\), got none$"),
    ({"log": 5}, r"^`log` 5: expected a function taking each result line, or None$"),
])
def test_no_recordings_or_a_log_that_cannot_be_called_is_refused_naming_the_argument(recs, kw, said):
    """`data=[]` was refused as "--data.recordings" (a config key no library caller wrote) and `log=5` ended in
    a TypeError after the weights loaded."""
    args = {"data": [str(recs["rec"])], **kw}
    with pytest.raises(ConfigError, match=said):
        evaluate_checkpoint(recs["ck"], args.pop("data"), [2], limit=1, progress=False, **args)


def test_a_misspelt_eval_option_is_refused_not_ignored():
    """`eval_options(scale=[8])` (for scales) returned the default scales 2 and 4 without a word."""
    with pytest.raises(ConfigError, match=r"^eval_options: unknown setting 'scale'; expected \['protocol', "
                                          r"'queries', 'scales'\]$"):
        eval_options(scale=[8])
    assert eval_options(scales=[8], protocol=None)["scales"] == [8.0]
