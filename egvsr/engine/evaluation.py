"""`egvsr eval`: a checkpoint (and bicubic beside it) scored at several scales under one protocol.

Without a checkpoint the shipped weights are scored (`egvsr.engine.weights`). Settings come from, in
increasing priority: `EVAL_DEFAULTS`, the checkpoint's own `eval:` section (what its config asked for),
an `--config` preset, and explicit arguments (`eval_options`). Writes `<out>/results.md` and `<out>/results.csv` (per clip, per scale, model and bicubic, plus averages) and
`<out>/psnr_vs_scale.png`; returns the rows.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from egvsr.engine.config_datasets import build_dataset
from egvsr.engine.distributed import resolve_device
from egvsr.engine.scoring import evaluate
from egvsr.engine.tables import markdown_table
from egvsr.engine.checkpoint_model import input_options, model_from_checkpoint
from egvsr.engine.protocol import get_protocol
from egvsr.engine.weights import checkpoint_or_shipped, describe_weights
from egvsr.errors import ConfigError
from egvsr.errors import OutputExistsError
from egvsr.fsutil import atomic_output, check_output_path


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
) -> list[dict]:
    """Score `checkpoint` (None: the shipped weights) on recordings `data` at each scale; optionally
    write tables and a plot. `progress`: bars on stderr; `log`: where the result lines go."""
    with checkpoint_or_shipped(checkpoint) as (path, label):
        return _evaluate(path, label, data, scales, protocol, queries, output, device, chunk_size, limit,
                         overwrite, with_bicubic, progress, log or (lambda text: None))


def _evaluate(checkpoint, label, data, scales, protocol, queries, output, device, chunk_size, limit,
              overwrite, with_bicubic, progress, log) -> list[dict]:
    from egvsr.datasets import collate_samples
    from egvsr.models import build_model

    if not scales:
        raise ConfigError("--scales: give at least one scale")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--limit {limit!r}: expected a positive number of samples per scale")
    scales = [_scale(s) for s in scales]  # every one before any work
    if output is not None:
        check_results_folder(Path(output), overwrite)  # before the evaluation, not after it
    dev = resolve_device(device)
    model, ck = model_from_checkpoint(checkpoint, dev)
    name = ck["model"]["name"]
    cap = float(getattr(model, "max_scale", float("inf")))
    above = [s for s in scales if s > cap + 1e-9]
    if above:
        raise ConfigError(f"--scales {above[0]:g}: above the cap of model {name!r} (max_scale {cap:g}, from "
                          f"checkpoint {checkpoint}); choose scales up to {cap:g}")
    log(describe_weights(label, ck))
    proto = get_protocol(protocol)
    opts = input_options(ck, str(checkpoint))
    models = {name: model}
    if with_bicubic and name != "bicubic":
        models["bicubic"] = build_model("bicubic").to(dev).eval()
    rows: list[dict] = []
    for s in scales:
        spec = {"recordings": list(data), **opts}
        ds = build_dataset(spec, "--data", progress=progress, mode="eval", scale=s, scale_range=(min(1.0, s), max(1.0, s)),
                           queries=queries, patch_size=None)
        if limit is not None and limit < len(ds):  # spread over every recording, not the first one's start
            picks = np.linspace(0, len(ds) - 1, max(1, int(limit))).round().astype(int)
            ds = Subset(ds, sorted(set(picks.tolist())))
        loader = DataLoader(ds, batch_size=1, collate_fn=collate_samples)
        for label, m in models.items():
            res = evaluate(m, loader, proto, dev, chunk_size, progress=progress, desc=f"x{s:g} {label}")
            for clip, (p, q, n) in res["clips"].items():
                rows.append({"model": label, "scale": s, "clip": clip, "psnr": p, "ssim": q, "frames": n})
            rows.append({"model": label, "scale": s, "clip": "average", "psnr": res["psnr"],
                         "ssim": res["ssim"], "frames": res["n"]})
            log(f"x{s:g} {label:>12}: PSNR {res['psnr']:.2f} dB  SSIM {res['ssim']:.4f}  ({res['n']} frames)")
    if output is not None:
        write_results(rows, Path(output), proto.name, overwrite)
        log(f"wrote {', '.join(str(Path(output) / f) for f in RESULT_FILES)}")
    return rows


EVAL_DEFAULTS = {"protocol": "ours", "scales": [2.0, 4.0], "queries": "middle"}


def eval_options(config: str | Path | None = None, checkpoint_eval: dict | None = None, **given) -> dict:
    """Evaluation settings: defaults, then the checkpoint's `eval:` section (protocol, scales), then a
    preset YAML, then explicitly given values (None = not given)."""
    from egvsr.engine.yamltext import read_yaml_mapping

    opts = dict(EVAL_DEFAULTS)
    opts.update({k: v for k, v in (checkpoint_eval or {}).items() if k in ("protocol", "scales")})
    if config is not None:
        p = Path(config)
        data = read_yaml_mapping(p, "evaluation config", f"a mapping of {sorted(EVAL_DEFAULTS)}")
        unknown = sorted(set(data) - set(EVAL_DEFAULTS), key=str)
        if unknown:
            raise ConfigError(f"{p}: unknown key {unknown[0]!r}; expected {sorted(EVAL_DEFAULTS)}")
        opts.update(data)
    opts.update({k: v for k, v in given.items() if v is not None})
    return opts


def _scale(s) -> float:
    """One `--scales` value: a finite number >= 1 (the output is the recording at that factor)."""
    try:
        v = float(s)
    except (TypeError, ValueError):
        raise ConfigError(f"--scales: {s!r} is not a number") from None
    if not 1 <= v < float("inf"):
        raise ConfigError(f"--scales {s}: expected a finite scale >= 1 (the super-resolution factor)")
    return v


RESULT_FILES = ("results.md", "results.csv", "psnr_vs_scale.png")


def check_results_folder(folder: Path, overwrite: bool = False) -> None:
    """Refuse an --output that is not a folder (or cannot become one) or whose result files exist."""
    for p in (folder, *folder.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputExistsError(f"--output {folder}: {p} is a file, expected a folder for the results")
            break
    for name in RESULT_FILES:
        check_output_path(folder / name, overwrite)


def write_results(rows: list[dict], folder: Path, protocol: str, overwrite: bool = False) -> None:
    """results.md, results.csv and psnr_vs_scale.png in `folder` (each written atomically)."""
    from egvsr.plots.curves import plot_metric_vs_scale

    check_results_folder(folder, overwrite)
    with atomic_output(folder / "results.md", overwrite) as tmp:
        tmp.write_text(markdown_table(rows, protocol))
    with atomic_output(folder / "results.csv", overwrite) as tmp:
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["model", "scale", "clip", "psnr", "ssim", "frames"])
            w.writeheader()
            w.writerows(rows)
    averages = [r for r in rows if r["clip"] == "average"]
    plot_metric_vs_scale(averages, folder / "psnr_vs_scale.png", overwrite=overwrite,
                         title=f"PSNR vs scale ({protocol} protocol)")


def checkpoint_eval_section(checkpoint: str | Path | None) -> dict:
    """The `eval:` section (protocol, scales) of the config a checkpoint was trained with; {} if none."""
    from collections.abc import Mapping

    from egvsr.engine.checkpoint_file import load_checkpoint

    with checkpoint_or_shipped(checkpoint) as (path, _):
        exp = load_checkpoint(path).get("experiment")
    section = exp.get("eval") if isinstance(exp, Mapping) else None
    if not isinstance(section, Mapping):
        return {}
    out = {}
    if isinstance(section.get("protocol"), str):
        out["protocol"] = section["protocol"]
    scales = section.get("scales")
    if isinstance(scales, (list, tuple)) and scales and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                           for v in scales):
        out["scales"] = [float(v) for v in scales]
    return out
