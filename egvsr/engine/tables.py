"""Evaluation's report tables: PSNR/SSIM rows averaged and written as markdown.

`markdown_table` is `egvsr eval`'s results.md (per clip and scale); `summarize_scores` and
`scores_table` average the per-frame scores of a render (`egvsr render --score`, `egvsr demo`) by
time kind: at input frame times, between them, all.
"""

from __future__ import annotations

import io

import numpy as np

from egvsr.datasets.geometry import fmt_scale
from egvsr.engine.protocol import AVERAGES, PROTOCOLS


#: the clip label of the rows that average every clip; no recording is labelled so (`scoring.label_clips`)
SUMMARY_CLIP = "average"


def markdown_cell(text: str) -> str:
    """`text` as one markdown table cell: `|` escaped as `\\|`, a line break written as `\\n` (`\\r`), so a
    clip's file name can neither split its row nor end it."""
    return str(text).replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n")


#: what each `queries` of evaluation scores, as results.md says it
QUERIES_TEXT = {"middle": "frames at input frame times",
                "gt": "ground-truth frames between input frames and frames at input frame times"}


def markdown_table(rows: list[dict], protocol: str, queries: str | None = None) -> str:
    """Rows as a markdown table: one line per (clip, scale), one PSNR/SSIM column pair per model; the
    `SUMMARY_CLIP` rows last. Above it the protocol, (given) which times were scored (`queries` middle
    and gt score different frames, so a table that did not say would read the same for both) and how the
    protocol averages the clips."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    keys = list(dict.fromkeys((r["clip"], r["scale"]) for r in rows))
    index = {(r["clip"], r["scale"], r["model"]): r for r in rows}
    out = io.StringIO()
    scored = "" if queries is None else f"; queries: {queries} ({QUERIES_TEXT.get(queries, queries)})"
    known = PROTOCOLS.get(protocol)
    averaged = "" if known is None else f"; {SUMMARY_CLIP}: {AVERAGES[known.average]}"
    out.write(f"Protocol: {protocol}{scored}{averaged}\n\n| clip | scale | "
              + " | ".join(f"{markdown_cell(m)} PSNR / SSIM" for m in models) + " |\n")
    out.write("|---|---|" + "---|" * len(models) + "\n")
    for clip, s in sorted(keys, key=lambda k: (k[0] == SUMMARY_CLIP, k[0], k[1])):
        cells = []
        for m in models:
            r = index.get((clip, s, m))
            cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f}" if r else "-")
        out.write(f"| {markdown_cell(clip)} | x{fmt_scale(s)} | " + " | ".join(cells) + " |\n")
    return out.getvalue()


def summarize_scores(scores: list[dict], scale: float) -> list[dict]:
    """Mean PSNR/SSIM per (model, kind) over the frames of one scale, plus 'all'."""
    rows = []
    models = list(dict.fromkeys(r["model"] for r in scores))
    for model in models:
        for kind in ("frame", "between", "all"):
            sel = [r for r in scores if r["model"] == model and (kind == "all" or r["kind"] == kind)]
            if sel:
                rows.append({"scale": scale, "model": model, "kind": kind, "n": len(sel),
                             "psnr": float(np.mean([r["psnr"] for r in sel])),
                             "ssim": float(np.mean([r["ssim"] for r in sel]))})
    return rows


def scores_table(rows: list[dict]) -> str:
    """The PSNR/SSIM table as markdown: one line per scale and time kind, model beside bicubic."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    names = {"frame": "input frame times", "between": "in-between GT times", "all": "all"}
    out = ["| scale | times | frames | " + " | ".join(f"{m} PSNR / SSIM" for m in models) + " |",
           "|---|---|---|" + "---|" * len(models)]
    for s in dict.fromkeys(r["scale"] for r in rows):
        for kind in ("frame", "between", "all"):
            cells, n = [], 0
            for m in models:
                r = next((r for r in rows if r["scale"] == s and r["model"] == m and r["kind"] == kind), None)
                cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f}" if r else "-")
                n = r["n"] if r else n
            if n:
                out.append(f"| x{fmt_scale(s)} | {names[kind]} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
