"""The on-disk layout of one experiment: `<output_root>/<name>/`.

```
config.yaml            the resolved config (defaults + file + overrides)
checkpoints/last.pt    newest state (model, optimizer, scheduler, scaler, EMA, RNG, step); resumes from here
checkpoints/step-N.pt  periodic states (the newest `keep_checkpoints` are kept)
checkpoints/best.pt    best validation PSNR so far
logs/train.csv         step, loss, lr, samples/s;  logs/val.csv  step, psnr, ssim per scale
```
"""

from __future__ import annotations

from pathlib import Path


class Experiment:
    """Paths of one experiment folder."""

    def __init__(self, root: str | Path, name: str) -> None:
        self.dir = Path(root) / name
        self.checkpoints = self.dir / "checkpoints"
        self.logs = self.dir / "logs"
        self.config = self.dir / "config.yaml"
        self.last = self.checkpoints / "last.pt"
        self.best = self.checkpoints / "best.pt"

    def make(self) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}.pt"

    def prune(self, keep: int) -> None:
        """Delete all but the newest `keep` periodic checkpoints."""
        periodic = sorted(self.checkpoints.glob("step-*.pt"))
        for old in periodic[: max(0, len(periodic) - keep)]:
            old.unlink(missing_ok=True)
