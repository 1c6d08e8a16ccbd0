"""Measured effect of each official-compatible switch on the official fixtures' outputs.

For every surprise of the released forwards that `egvsr-official` / `videoinr-official` reproduce,
turn just that one back to our default and print the max abs change of the output (the numbers in
docs/models.md, "Official-compatible mode"). Needs ../shared/data/fixtures; CPU, a few seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from _official_fixtures import FIXTURES, load_fixture, official_weights  # noqa: E402

from egvsr.models import build_model  # noqa: E402
from egvsr.models.checkpoint_import import convert  # noqa: E402
from egvsr.models.egvsr import EGVSR  # noqa: E402

FIXTURE_FILES = ("egvsr_official_small.pt", "videoinr_official_small.pt")


def _model(fx, **overrides):
    imported = convert(official_weights(fx))
    model = build_model(imported.name, **{**imported.options, **overrides})
    model.load_state_dict(imported.state_dict)
    return model.eval()


def egvsr_effects() -> None:
    fx = load_fixture("egvsr_official_small.pt")
    ref = fx["output.sr_images"]
    size = tuple(ref.shape[-2:])

    def run(change) -> float:
        model = _model(fx)
        change(model)
        with torch.no_grad():
            out = model(fx["input.image"], torch.zeros(1, 1), size, events=fx["input.event"])[:, 0]
        return float((out - ref).abs().max())

    def modules(model, cls_name):
        return [m for m in model.modules() if type(m).__name__ == cls_name]

    def set_all(cls_name, **values):
        def change(model):
            for m in modules(model, cls_name):
                for k, v in values.items():
                    setattr(m, k, v)
        return change

    cases = {
        "none (official mode as is)": lambda m: None,
        "HPB: ceil pooling + align_corners=False": set_all("HPB", official=False),
        "ARFB: no branch scales (weight2/3 = 1)": set_all("ARFB", w_x2=None, w_x1=None),
        "attention: scale from the real head width": set_all("EfficientAttention", scale=None),
        "attention: one window (window_tokens 1400)": set_all("PatchTransformer", official=False),
        "fold: mean instead of sum": set_all("PatchTransformer", fold="mean"),
        "query grid: pixel centres": lambda m: setattr(m, "decode", lambda *a: EGVSR.decode(m, *a)),
        "TF: moments at bin centres": set_all("TemporalFilter", moments_at_corners=False),
    }
    for name, change in cases.items():
        print(f"egvsr small | {name:45s} | {run(change):.3g}")


def videoinr_effects() -> None:
    fx = load_fixture("videoinr_official_small.pt")
    times = torch.tensor([[2 * float(fx[f"input.times.{k}"]) - 1 for k in range(3)]])
    for name, opts in {"none (official mode as is)": {}, "train path (LR frames, not x4)": {"decoder": "official-train"},
                       "our decoder (pixel-centre warp, border reads)": {"decoder": "ours"}}.items():
        with torch.no_grad():
            out = _model(fx, **opts)(fx["input.x"], times, (56, 84))
        err = max(float((out[:, k] - fx[f"output.pred.{k}"]).abs().max()) for k in range(3))
        print(f"videoinr small | {name:45s} | {err:.3g}")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args(argv)
    missing = [name for name in FIXTURE_FILES if not (FIXTURES / name).is_file()]
    if missing:  # a user's clone has no ../shared: one line, not the tests' skip exception
        print(f"skipped: official fixture {FIXTURES / missing[0]} not found "
              "(../shared/data/fixtures exists only on project machines)")
        return 0
    torch.set_num_threads(1)
    egvsr_effects()
    videoinr_effects()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
