"""`egvsr eval`: a checkpoint (and bicubic beside it) scored at several scales under one protocol.

Without a checkpoint the shipped weights are scored (`egvsr.engine.weights`). Settings come from, in
increasing priority: `EVAL_DEFAULTS`, the checkpoint's own `eval:` section (what its config asked for),
an `--config` preset, and explicit arguments (`eval_options`). Writes `<out>/results.md` and
`<out>/results.csv` (per clip, per scale, model and bicubic, plus averages) and `<out>/psnr_vs_scale.png`
(created before any scoring, renamed into place together at the end); returns the rows.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from torch.utils.data import DataLoader, Subset

from egvsr.datasets.geometry import check_scales
from egvsr.datasets.items import ground_truth_coverage, gt_outside_frames
from egvsr.datasets.recording import warn_event_damage_and_coverage
from egvsr.engine.config_datasets import build_dataset
from egvsr.engine.scoring import check_scoring, evaluate
from egvsr.engine.tables import SUMMARY_CLIP, fmt_scale, markdown_table
from egvsr.engine.checkpoint_file import check_device
from egvsr.engine.checkpoint_model import derive_inputs, input_options, model_from_checkpoint
from egvsr.engine.protocol import get_protocol
from egvsr.engine.weights import checkpoint_or_shipped, describe_weights
from egvsr.events.checks import is_integer
from egvsr.events.io.arguments import check_path
from egvsr.errors import ConfigError
from egvsr.errors import OutputExistsError
from egvsr.fsutil import (atomic_output, check_flag, check_output_path, committing, counted, file_id, is_folder,
                          is_inside, shown)
from egvsr.process import check_pending, one_line


def evaluate_checkpoint(
    checkpoint: str | Path | None,
    data: Sequence[str],
    scales: Sequence[float],
    protocol: str = "ours",
    queries: str = "middle",
    output: str | Path | None = None,
    device: str = "auto",
    chunk_size: int = 65536,
    limit: int | None = None,
    overwrite: bool = False,
    with_bicubic: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    scales_where: str = "`scales`",
) -> list[dict]:
    """Score `checkpoint` (None: the shipped weights) on recordings `data` at each scale; optionally
    write tables and a plot. `progress`: bars on stderr; `log`: where the result lines go;
    `scales_where`: where the scales came from (`eval_options`' "scales_where"), named by their errors."""
    if log is not None and not callable(log):
        raise ConfigError(f"`log` {log!r}: expected a function taking each result line, or None")
    with checkpoint_or_shipped(checkpoint) as (path, label):
        return _evaluate(path, label, data, scales, protocol, queries, output, device, chunk_size, limit,
                         overwrite, with_bicubic, progress, log or (lambda text: None), scales_where)


def _evaluate(checkpoint, label, data, scales, protocol, queries, output, device, chunk_size, limit,
              overwrite, with_bicubic, progress, log, scales_where) -> list[dict]:
    # True or False only: a truthy "no" would score bicubic beside the model or replace earlier results
    overwrite, with_bicubic, progress = (check_flag(v, k) for v, k in ((overwrite, "overwrite"),
                                         (with_bicubic, "with_bicubic"), (progress, "progress")))
    if limit is not None and (not is_integer(limit) or limit < 1):
        raise ConfigError(f"`limit` {limit!r}: expected a positive number of samples per scale")
    limit = None if limit is None else int(limit)  # a NumPy integer too (np.int64(5) is no `int`)
    if chunk_size is not None:  # None: the model's own; else checked before the memory estimate reads it
        from egvsr.models.validate import check_chunk

        chunk_size = check_chunk(chunk_size)
    scales = check_scales(scales, scales_where)  # every one before any work
    proto = get_protocol(protocol, "`protocol`")
    queries = check_queries(queries, "`queries`")
    check_distinct_data(data)
    folder = None if output is None else check_path(output, "`output`")
    if folder is not None:
        check_results_folder(folder, overwrite, inputs=[checkpoint, *data])  # before the evaluation, not after it
        from egvsr.plots.figures import check_plotting

        check_plotting()  # a missing matplotlib before the scoring, not after it
    # the result files are created now (a folder that cannot take them is refused before any scoring) and
    # committed together at the end
    with contextlib.nullcontext() if folder is None else result_files(folder, overwrite) as temps:
        rows = _score(checkpoint, label, data, scales, proto, queries, device, chunk_size, limit, with_bicubic,
                      progress, log, scales_where)
        if temps is not None:
            _fill_results(temps, rows, proto.name, folder, queries)
    if folder is not None:
        log(one_line(f"wrote {', '.join(str(folder / f) for f in RESULT_FILES)}"))
    return rows


def _score(checkpoint, label, data, scales, proto, queries, device, chunk_size, limit, with_bicubic, progress,
           log, scales_where) -> list[dict]:
    """The rows of `evaluate_checkpoint` (its arguments checked): every input checked, then every score."""
    from egvsr.datasets import collate_samples
    from egvsr.models import build_model

    dev = check_device(device)  # named as `device` (--device)
    model, ck = model_from_checkpoint(checkpoint, dev)
    name = ck["model"]["name"]
    cap = float(getattr(model, "max_scale", float("inf")))
    above = [s for s in scales if s > cap]  # exactly: a scale is printed (`fmt_scale`) as it is checked
    if above:
        advice = (f"give `scales` up to {fmt_scale(cap)}" if scales_where == "`scales`" else
                  f"lower it to at most {fmt_scale(cap)} there, or override it with `scales`")
        raise ConfigError(f"{scales_where} {fmt_scale(above[0])}: above the cap of model {name!r} (max_scale "
                          f"{fmt_scale(cap)}, from checkpoint {checkpoint}); {advice}")
    log(describe_weights(label, ck))
    k, rep = derive_inputs(model, input_options(ck, str(checkpoint)), str(checkpoint))  # as render reads it
    opts = {"num_frames": k, **rep}
    models = {name: model}
    if with_bicubic and name != "bicubic":
        models["bicubic"] = build_model("bicubic").to(dev).eval()
    datasets = []
    for s in scales:  # every recording at every scale checked before any scoring
        spec = {"recordings": list(data), **opts}
        ds = _eval_dataset(spec, s, scales_where, progress=progress, queries=queries)
        if queries == "gt":
            said = log if not datasets else (lambda text: None)  # its notices once, not per scale
            ds = _with_ground_truth(ds, spec, said, progress=progress, mode="eval", scale=s,
                                    scale_range=(s, s), queries=queries, patch_size=None)
            data = [str(r.path) for r in ds.recordings]  # later scales open only these (and say nothing again)
        check_paired_events(ds, model, name)
        check_scoring(ds, models, proto, dev, chunk_size, DATA)
        check_every_recording_scored(ds, s)
        datasets.append((s, ds))
    if getattr(model, "uses_events", False):  # every check passed; once, not per scale
        warn_event_damage_and_coverage(datasets[0][1].recordings)
    rows: list[dict] = []
    weights = label  # the checkpoint, or which shipped weights: named by a non-finite output's error
    fewer = [len(ds.recordings) for _, ds in datasets if limit is not None and limit < len(ds.recordings)]
    if fewer:  # once, not per scale: the table will lack the other recordings' rows
        log(f"limit {limit}: below the {fewer[0]} recordings, so {limit} of them are scored (one sample each) and "
            "the others have no rows")
    for s, ds in datasets:
        if limit is not None and limit < len(ds):
            ds = Subset(ds, limited_items(ds, limit, queries))
        loader = DataLoader(ds, batch_size=1, collate_fn=collate_samples)
        for label, m in models.items():
            res = evaluate(m, loader, proto, dev, chunk_size, progress=progress, desc=f"x{fmt_scale(s)} {label}",
                           checkpoint=weights if m is model else None)
            for clip, (p, q, n) in res["clips"].items():
                rows.append({"model": label, "scale": s, "clip": clip, "psnr": p, "ssim": q, "frames": n})
            rows.append({"model": label, "scale": s, "clip": SUMMARY_CLIP, "psnr": res["psnr"],
                         "ssim": res["ssim"], "frames": res["n"]})
            log(f"x{fmt_scale(s)} {label:>12}: PSNR {res['psnr']:.2f} dB  SSIM {res['ssim']:.4f}  ({counted(res['n'], 'frame')})")
    return rows


def _spread(indices: Sequence[int], count: int) -> list[int]:
    """`count` of `indices` (at most all of them), evenly spaced from the first to the last."""
    if count <= 0 or not indices:
        return []
    picks = np.linspace(0, len(indices) - 1, min(count, len(indices))).round().astype(int)
    return [indices[i] for i in picks]


def limited_items(ds: Any, limit: int, queries: str = "middle") -> list[int]:
    """Indices of the `limit` items (< len(ds)) that --limit scores, spread over every recording, not the
    first one's start: each recording gets its share by its number of items, at least one when `limit` is at
    least the number of recordings (else `limit` recordings spread evenly over the list get one each), and its
    share is spread evenly over its items. With queries 'gt', a recording's ground-truth times and frame times
    are spread over separately, each given its share (at least one ground-truth time, and one frame time when
    the share is >= 2): one even spread over both would land on frame times alone (they alternate)."""
    groups: dict[int, list[int]] = {}
    for i, item in enumerate(ds.items):
        groups.setdefault(item.rec, []).append(i)
    recs = list(groups)
    shares = _shares([len(groups[r]) for r in recs], limit)
    frames = {r: set(np.asarray(ds.recordings[r].frame_times).tolist()) for r in recs} if queries == "gt" else {}
    picks = {r: _pick(groups[r], n, ds.items, frames.get(r)) for r, n in zip(recs, shares)}
    if queries == "gt" and limit >= 2:  # a frame time too, as with one recording (shares of 1 take ground truth)

        def at_frame(i: int) -> bool:
            return ds.items[i].target_us in frames[ds.items[i].rec]

        if not any(at_frame(i) for p in picks.values() for i in p):
            ones = [r for r, n in zip(recs, shares) if n == 1 and any(at_frame(i) for i in groups[r])]
            if ones:  # every pick is ground truth (limit >= 2 of them): one of them becomes a frame time
                picks[ones[-1]] = _spread([i for i in groups[ones[-1]] if at_frame(i)], 1)
    return sorted(i for p in picks.values() for i in p)


def _shares(sizes: Sequence[int], limit: int) -> list[int]:
    """How many of `limit` (< sum(sizes)) items each group of `sizes` gets: with `limit` >= the number of groups
    one each, the rest by their sizes (largest remainders), never more than a group holds; else one each to
    `limit` groups spread evenly over them."""
    k, total = len(sizes), sum(sizes)
    if limit < k:
        chosen = set(_spread(range(k), limit))
        return [int(g in chosen) for g in range(k)]
    # the rest, limit - k, shared by the sizes beyond the first item, in whole numbers (exact: no float rounding);
    # total > limit >= k, so no division by 0 and every share stays below its size before its remainder's 1
    quota = [divmod((limit - k) * (n - 1), total - k) for n in sizes]
    shares = [1 + whole for whole, _ in quota]
    for g in sorted(range(k), key=lambda g: -quota[g][1])[:limit - sum(shares)]:
        shares[g] += 1
    return shares


def _pick(indices: list[int], count: int, items: Sequence[Any], frame_times: set | None = None) -> list[int]:
    """`count` of one recording's `indices` spread evenly; given its `frame_times` (queries 'gt'), its
    ground-truth times and its frame times spread separately, each by its share."""
    if frame_times is None or count <= 0 or count >= len(indices):
        return _spread(indices, count)
    at_frame = [i for i in indices if items[i].target_us in frame_times]
    at_gt = [i for i in indices if items[i].target_us not in frame_times]
    n_gt = min(len(at_gt), max(1, round(count * len(at_gt) / len(indices))))
    if count >= 2 and at_frame:
        n_gt = min(n_gt, count - 1)
    return _spread(at_gt, n_gt) + _spread(at_frame, count - n_gt)


def _eval_dataset(spec: dict, scale: float, scales_where: str, **options):
    """The whole-frame dataset of `spec` at `scale` alone. Recordings that pair LR and HR at a fixed
    scale (EvTexture files) are scored at that scale only; another one is refused naming `scales`."""
    from egvsr.datasets.vsr_dataset import PairedScaleError

    try:
        return build_dataset(spec, DATA, mode="eval", scale=scale, scale_range=(scale, scale), patch_size=None,
                             **options)
    except PairedScaleError as exc:
        raise ConfigError(f"{scales_where} {fmt_scale(scale)}: {DATA} {exc.path} pairs LR and HR at x{exc.paired} (an "
                          f"EvTexture file), so it is scored at x{exc.paired} only; give `scales` {exc.paired}"
                          ) from None


EVAL_DEFAULTS = {"protocol": "ours", "scales": [2.0, 4.0], "queries": "middle"}
#: how the dataset checks name the recordings: the option itself, which `build_dataset` uses as is (a
#: section name would get `.recordings` appended, and `data.recordings` is no key or flag of eval)
DATA = "--data"


def eval_options(config: str | Path | None = None, checkpoint_eval: dict | None = None,
                 checkpoint_where: str = "the checkpoint's eval", **given: Any) -> dict:
    """Evaluation settings: defaults, then the checkpoint's `eval:` section (protocol, scales), then a
    preset YAML, then explicitly given values (None = not given). Each value that wins is checked and
    any error names where it came from (`checkpoint_where`.scales, the preset file's key, --scales);
    "scales_where" says it for the scales, whose cap only the model tells (`evaluate_checkpoint`)."""
    from egvsr.engine.yamltext import read_yaml_mapping

    unknown = sorted(set(given) - set(EVAL_DEFAULTS))
    if unknown:  # a misspelt setting (scale=) would leave the default in force without a word
        raise ConfigError(f"eval_options: unknown setting {unknown[0]!r}; expected {sorted(EVAL_DEFAULTS)}")
    opts = {k: (v, f"default {k}") for k, v in EVAL_DEFAULTS.items()}
    opts.update({k: (v, f"{checkpoint_where}.{k}") for k, v in (checkpoint_eval or {}).items()
                 if k in ("protocol", "scales")})
    if config is not None:
        p = Path(config)
        data = read_yaml_mapping(p, "evaluation config", f"a mapping of {sorted(EVAL_DEFAULTS)}")
        unknown = sorted(set(data) - set(EVAL_DEFAULTS), key=str)
        if unknown:
            raise ConfigError(f"{p}: unknown key {unknown[0]!r}; expected {sorted(EVAL_DEFAULTS)}")
        opts.update({k: (v, f"{p}: {k}") for k, v in data.items()})
    opts.update({k: (v, f"`{k}`") for k, v in given.items() if v is not None})
    (protocol, p_where), (scales, s_where), (queries, q_where) = opts["protocol"], opts["scales"], opts["queries"]
    return {"protocol": get_protocol(protocol, p_where).name, "scales": check_scales(scales, s_where),
            "queries": check_queries(queries, q_where), "scales_where": s_where}


def check_paired_events(ds: Any, model: Any, name: str) -> None:
    """Refuse, before any scoring, an EvTexture file whose stored voxels the model cannot take (their
    bins are fixed by the file, not by the checkpoint's representation)."""
    if ds.paired_scale is None or not getattr(model, "uses_events", False):
        return
    want = tuple(model.event_shape)
    for rec in ds.recordings:
        got = ds.event_shape(rec)
        if got != want:
            raise ConfigError(
                f"{DATA} {rec.path}: its stored voxels give {got[0]} time bins x {got[1]} channel "
                f"({ds.k - 1} intervals of {rec.bins} bins), but model {name!r} takes "
                f"{want[0]} x {want[1]}; score it with a model trained on such files"
            )


def check_every_recording_scored(ds: Any, scale: float) -> None:
    """Refuse, before any scoring, a recording of which no time would be scored: its rows would read nan
    over 0 frames and the run would still succeed. (Its frames' span holds no target time; the readers
    refuse the frame times that cause this, so this is the last guard, not the usual message.)"""
    scored = {item.rec for item in ds.items}
    for r, rec in enumerate(ds.recordings):
        if r not in scored:
            raise ConfigError(f"{DATA} {rec.path}: no frame of this recording can be scored at x{fmt_scale(scale)} (no "
                              f"target time lies within its frames' span {int(rec.frame_times[0])}.."
                              f"{int(rec.frame_times[-1])} µs); leave it out of {DATA} or repair its frame times")


def check_queries(queries: object, where: str) -> str:
    """Which times are scored: 'middle' (frame times) or 'gt' (the ground-truth times between frames)."""
    if not isinstance(queries, str) or queries not in ("middle", "gt"):
        raise ConfigError(f"{where} {queries!r}: expected 'middle' or 'gt'")
    return queries


def check_distinct_data(data: Sequence[str]) -> None:
    """Refuse a recording given twice (it would count twice in every average), naming it: the same
    `sample:` seed however written (`sample:1`, `sample:01`), a `synthetic:` clip in two ranges, or one file
    under two names (a link, a hard link: the same device and inode)."""
    from egvsr.datasets.synthetic.cache import parse_entry
    from egvsr.engine.config_datasets import sample_seed

    if not isinstance(data, (list, tuple)) or not data:
        raise ConfigError(f"`data`: expected a list of recordings (paths, sample:N or synthetic:...), "
                          f"got {'none' if isinstance(data, (list, tuple)) else type(data).__name__}")
    seen: dict[object, str] = {}
    for entry in data:
        check_path(entry, "`data`")  # a str or os.PathLike, not empty, no NUL byte
        text = str(entry)
        if text.startswith("sample:"):
            keys: list[object] = [("sample", sample_seed(text, "`data`"))]
        elif text.startswith("synthetic:"):
            split, indices = parse_entry(text, "`data`")
            keys = [("synthetic", split, i) for i in indices]
        else:
            keys = [_file_identity(Path(text))]
        for key in keys:
            if key in seen:
                same = ", the same file" if isinstance(key, tuple) and key[0] == "file" else ""
                also = "" if seen[key] == text else f" (as {seen[key]}{same})"
                raise ConfigError(f"`data`: {text} is given twice{also}; give each recording once")
            seen[key] = text


def _file_identity(p: Path) -> object:
    """What tells two paths to one file apart from two files: its device and inode (the same for a hard link
    or a link to it), else its resolved path (one that does not exist: the readers report it)."""
    try:
        found = file_id(p.stat())  # None where the file system numbers no files (some Windows drives)
        if found is not None:
            return ("file", *found)
    except (OSError, ValueError):
        pass
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return p


def _with_ground_truth(ds, spec: dict, log: Callable[[str], None], **options):
    """With queries 'gt': refuse when no recording has ground-truth frames within its frames' span; else
    say how many ground-truth frames lie outside it (no window holds them: they are not scored) and leave
    out (and say so) the recordings with none inside, which would otherwise score their frame times
    under the label gt."""
    lacking, partial = ground_truth_coverage(ds.recordings)
    for r, n in partial:
        log(f"queries gt: {r.path}: {n} of {len(r.gt_times)} ground-truth frames lie outside "
            f"the frames' span ({int(r.frame_times[0])}..{int(r.frame_times[-1])} µs) and are not scored")
    for r in ds.recordings:
        if r in lacking:
            continue
        n = int(np.isin(r.gt_times, r.frame_times).sum())
        if n:  # the input frame at that time is its target (scored once, as a frame time)
            log(f"queries gt: {r.path}: {n} of {len(r.gt_times)} ground-truth frames lie exactly at frame times "
                "and are not scored (the frame at that time is the target there)")
        if n and n + gt_outside_frames(r) == len(r.gt_times):
            lacking.append(r)  # none left between its frames: it would score its frame times as gt
    if not lacking:
        return ds
    names = ", ".join(str(r.path) for r in lacking)
    span = " between its frames" if any(len(r.gt_times) for r in lacking) else ""
    if len(lacking) == len(ds.recordings):
        raise ConfigError(f"`queries` gt: no ground-truth frames in {names}{span}"
                          f"{' (those outside the frames or at frame times are not scored)' if span else ''}; "
                          "use --queries middle to "
                          "score the frame times")
    log(f"queries gt: skipping {names} (no ground-truth frames{span})")
    kept = [str(r.path) for r in ds.recordings if r not in lacking]
    return build_dataset({**spec, "recordings": kept}, DATA, **options)


RESULT_FILES = ("results.md", "results.csv", "psnr_vs_scale.png")


def check_results_folder(folder: Path, overwrite: bool = False, inputs: Sequence[str | Path] = ()) -> None:
    """Refuse an --output that is not a folder (or cannot become one), that is or lies inside an input
    recording folder (a CED folder of frames), whose result files would replace an input (the checkpoint,
    a recording: `refuse_results_over_inputs`), or whose result files exist."""
    for entry in inputs:
        if is_folder(Path(entry)) and is_inside(folder, Path(entry)):
            raise OutputExistsError(f"`output` {folder}: lies inside the input recording folder {entry}; "
                                    "choose an output folder outside the inputs")
    refuse_results_over_inputs(folder, inputs)
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputExistsError(f"--output {folder}: {p} is a file, expected a folder for the results")
            break
    for name in RESULT_FILES:
        check_output_path(folder / name, overwrite)


def refuse_results_over_inputs(folder: Path, inputs: Sequence[str | Path | None]) -> None:
    """Refuse result files in `folder` that would replace one of `inputs` (the checkpoint, a recording, a
    preset, or a file an input folder reads): the CLI's check, made for every library caller too. A new
    name inside an input folder is `check_results_folder`'s to refuse (it refuses any)."""
    from egvsr.datasets.opening import input_folder_members
    from egvsr.fsutil import FolderMembers, refuse_inputs_as_outputs

    refuse_inputs_as_outputs(inputs, [Path(folder) / name for name in RESULT_FILES],
                             members=lambda f: [FolderMembers(m.files) for m in input_folder_members(f)])


@contextlib.contextmanager
def result_files(folder: Path, overwrite: bool = False) -> Iterator[dict[str, Path]]:
    """Temporary files for the RESULT_FILES in `folder`, created at once (a folder that cannot take them is
    refused before any work) and renamed into place together when the block succeeds: an interrupted or
    failed run leaves every earlier result as it was, never a mix of old and new ones."""
    check_results_folder(folder, overwrite)
    with contextlib.ExitStack() as stack:
        temps = {name: stack.enter_context(atomic_output(folder / name, overwrite)) for name in RESULT_FILES}
        yield temps
        check_pending()
        for name in RESULT_FILES:  # every one still replaceable before any is replaced
            check_output_path(folder / name, overwrite)
        with committing(f"the results were written in full to {shown(folder)}"):  # three renames, not split
            stack.close()


def _fill_results(temps: dict[str, Path], rows: list[dict], protocol: str, folder: Path,
                  queries: str | None = None) -> None:
    """Write the tables and the plot of `rows` into the temporaries of `result_files`; a failed write (a
    full disk) is one line naming the result file in `folder` (`writing`)."""
    from egvsr.plots.curves import draw_metric_vs_scale
    from egvsr.plots.figures import writing

    final = {name: Path(folder) / name for name in temps}  # what the messages name
    rows = [{**r, "clip": shown(r["clip"])} for r in rows]  # a file name that is not UTF-8 as `\xNN`
    with writing(final["results.md"]):
        temps["results.md"].write_text(markdown_table(rows, protocol, queries), encoding="utf-8")
    with writing(final["results.csv"]), temps["results.csv"].open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["model", "scale", "clip", "psnr", "ssim", "frames"])
        w.writeheader()
        w.writerows(rows)
    averages = [r for r in rows if r["clip"] == SUMMARY_CLIP]
    draw_metric_vs_scale(averages, temps["psnr_vs_scale.png"], title=f"PSNR vs scale ({protocol} protocol)",
                         out=final["psnr_vs_scale.png"])


def write_results(rows: list[dict], folder: Path, protocol: str, overwrite: bool = False,
                  queries: str | None = None) -> None:
    """results.md, results.csv and psnr_vs_scale.png in `folder`, committed together (`result_files`)."""
    with result_files(folder, overwrite) as temps:
        _fill_results(temps, rows, protocol, folder, queries)


def checkpoint_eval_section(checkpoint: str | Path | None) -> dict:
    """The `eval:` section (protocol, scales) of the config a checkpoint was trained with; {} if none."""
    from collections.abc import Mapping

    from egvsr.engine.checkpoint_file import load_checkpoint

    with checkpoint_or_shipped(checkpoint) as (path, _):
        exp = load_checkpoint(path).get("experiment")
    section = exp.get("eval") if isinstance(exp, Mapping) else None
    if not isinstance(section, Mapping):
        return {}
    return {k: section[k] for k in ("protocol", "scales") if section.get(k) is not None}
