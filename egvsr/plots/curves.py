"""Metric-versus-scale curves (one line per model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egvsr.plots.figures import figure_format, house_style, new_figure, plain, writing

#: the `clip` of eval's per-scale mean row (`egvsr.engine.tables.SUMMARY_CLIP`, a layer above)
AVERAGE_CLIP = "average"


@house_style
def plot_metric_vs_scale(rows: list[dict], path: Path, metric: str = "psnr", overwrite: bool = False,
                         title: str | None = None) -> Path:
    """Plot `metric` against `scale` for each `model` in `rows` and save it atomically, in the
    format its name says (`figures.figure_format`: .png, .jpg/.jpeg, .pdf or .svg)."""
    from egvsr.fsutil import atomic_output
    from egvsr.plots.figures import check_figure_path

    check_figure_path(path, overwrite)
    with atomic_output(path, overwrite) as tmp:
        draw_metric_vs_scale(rows, tmp, metric, title, out=path)
    return Path(path)


@house_style
def draw_metric_vs_scale(rows: list[dict], target: Path, metric: str = "psnr", title: str | None = None,
                         out: Path | None = None) -> None:
    """Write the picture of `plot_metric_vs_scale` to `target` as it is (a temporary the caller commits: `eval`
    renames it together with its tables); a failed write (a full disk) is one line naming `out`, the
    output `target` stands for (default: `target` itself), whose name says the format. The figure is not
    pyplot's: the caller's matplotlib backend and open figures are left as they are."""
    from egvsr.errors import ConfigError

    for r in rows:
        if not isinstance(r, dict) or not {"model", "scale", metric} <= set(r):
            raise ConfigError(f"rows: expected 'model', 'scale' and {metric!r} in every row, got "
                              f"{sorted(r) if isinstance(r, dict) else type(r).__name__}")
        for key in ("scale", metric):
            try:
                float(r[key])
            except (TypeError, ValueError):
                raise ConfigError(f"rows: {key} {r[key]!r} of model {r['model']!r}: expected a number") from None
    # eval's rows (results.csv read back) hold one row per clip beside each scale's average: the curve is the
    # average's, where the clips' rows would put several points at one scale and zigzag through them
    rows = [r for r in rows if str(r.get("clip", AVERAGE_CLIP)) == AVERAGE_CLIP]
    seen: set[tuple[str, float]] = set()
    for r in rows:
        key = (str(r["model"]), float(r["scale"]))
        if key in seen:
            raise ConfigError(f"rows: model {r['model']!r} has more than one row at scale {float(r['scale']):g}; "
                              "expected one per model and scale (a line cannot pass through two values at one "
                              "scale)")
        seen.add(key)
    fig = new_figure(5, 3.5, dpi=120)
    ax = fig.subplots()
    for model in dict.fromkeys(r["model"] for r in rows):
        pts = sorted(((float(r["scale"]), float(r[metric])) for r in rows if r["model"] == model),
                     key=lambda p: p[0])
        # matplotlib leaves a NaN or infinite value (a metric or a scale) out without a word: the legend says which
        gone = [f"x{x:g} {y}" for x, y in pts if not (np.isfinite(x) and np.isfinite(y))]
        label = plain(f"{model} ({', '.join(gone)}: not drawn)" if gone else model)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xlabel("scale")
    ax.set_ylabel("PSNR (dB)" if metric == "psnr" else plain(str(metric).upper()))
    ax.grid(alpha=0.3)
    lines = ax.get_lines()
    if lines:  # no rows: no legend (matplotlib would warn that it has nothing to show)
        # given explicitly: matplotlib's own legend leaves out a label starting with "_" (a model "_base")
        ax.legend(lines, [line.get_label() for line in lines])
    if title:
        ax.set_title(plain(title))
    fig.tight_layout()
    with writing(target if out is None else out):
        fig.savefig(target, format=figure_format(target if out is None else out))
