"""Simulator settings and contrast thresholds: per-clip draw, per-pixel mismatch.

Per clip (EvTexture's convention): Cp ~ U(lo, hi), Cn = Cp * N(ratio_mean, ratio_std), Cn clipped to
[0.02, 0.5] widened to contain the Cp range. Per pixel (ESIM / v2e mismatch): each pixel's threshold is
the clip value plus N(0, sigma), floored at `MIN_THRESHOLD` so no pixel fires on noise-free rounding, and
capped at `MAX_THRESHOLD` (a finite stand-in for "never fires on intensity" that keeps the kernel's
arithmetic finite).
"""

from __future__ import annotations

import math
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

import numpy as np

from egvsr.errors import ConfigError, shown_value
from egvsr.events.checks import is_real

MIN_THRESHOLD = 0.01
#: Largest per-pixel threshold (log units). Log intensities span at most ~1500 (eps down to 5e-324), so a
#: pixel at this threshold never fires on intensity, as one at any larger or infinite threshold (a huge
#: sigma overflows): only leak and shot noise reach it, and the leak, leak * Cp per second, stays finite.
MAX_THRESHOLD = 1e100
DEFAULT_CP_RANGE = (0.05, 0.5)
DEFAULT_CN_RATIO = (1.0, 0.1)
CN_CLIP = (0.02, 0.5)
MAX_NOISE_HZ = 1e5  # events per pixel per second; a real pixel fires far less (a 100 µs refractory caps it at 1e4)


def _finite(name: str, v: float) -> float:
    if not is_real(v):
        raise ConfigError(f"`{name}`: expected a number, got {shown_value(v)}")
    f = float(v)
    if not math.isfinite(f):
        raise ConfigError(f"`{name}`: expected a finite number, got {shown_value(v)}")
    return f


def _knob(default, help: str, **cli) -> Any:
    """A simulator knob: its default, the help text of its `egvsr simulate` flag and argparse options
    (type, nargs, metavar; cli=False keeps it off the command line)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class SimulatorConfig:
    """Event-camera model settings (validated on construction; each error names the argument).

    The one list of the simulator's knobs: `simulate_frames` / `simulate_video` take them as keyword
    arguments and `egvsr simulate` derives its flags from these fields (`simulator_knobs`).
    cp: a fixed ON threshold or a (lo, hi) range drawn from per clip; cn_ratio: (mean, std) of Cn / Cp;
    sigma: per-pixel threshold mismatch (std, log units); refractory_us: minimum time between two
    events of one pixel; leak_hz: ON leak events per second of a static pixel; shot_noise_hz: random
    events per pixel per second; log_eps: L = log(I + eps) for I in [0, 1].
    """

    cp: tuple[float, float] = _knob(DEFAULT_CP_RANGE, "ON threshold, or a range LO HI to draw it from per clip "
                                    "(default 0.05 0.5)", nargs="+")
    cn_ratio: tuple[float, float] = _knob(DEFAULT_CN_RATIO, "Cn = Cp * N(MEAN, STD) (default 1.0 0.1)", nargs=2,
                                          metavar=("MEAN", "STD"))
    sigma: float = _knob(0.03, "per-pixel threshold mismatch (default 0.03)")
    refractory_us: float = _knob(100.0, "refractory period (default 100)")
    leak_hz: float = _knob(0.0, "leak events per pixel per second", max=MAX_NOISE_HZ)
    shot_noise_hz: float = _knob(0.0, "shot-noise events per pixel per second", max=MAX_NOISE_HZ)
    log_eps: float = _knob(1e-3, "L = log(I + eps) for luminance I in [0, 1]", cli=False)

    def __init__(
        self,
        cp: float | tuple[float, float] | list[float] | None = None,
        cn_ratio: tuple[float, float] | list[float] | None = None,
        sigma: float | None = None,
        refractory_us: float | None = None,
        leak_hz: float | None = None,
        shot_noise_hz: float | None = None,
        log_eps: float | None = None,
    ) -> None:
        cp_range = _cp_range(cp)
        ratio = DEFAULT_CN_RATIO if cn_ratio is None else _values("cn_ratio", cn_ratio, "(mean, std)")
        if len(ratio) != 2:
            raise ConfigError(f"`cn_ratio`: expected (mean, std), got {shown_value(cn_ratio)}")
        mean, std = (_finite("cn_ratio", v) for v in ratio)
        if mean <= 0 or std < 0:
            raise ConfigError(
                f"`cn_ratio` {shown_value(cn_ratio)}: expected a positive mean and a non-negative std "
                "(Cn = Cp * N(mean, std))"
            )
        values = dict(
            sigma=0.03 if sigma is None else sigma,
            refractory_us=100.0 if refractory_us is None else refractory_us,
            leak_hz=0.0 if leak_hz is None else leak_hz,
            shot_noise_hz=0.0 if shot_noise_hz is None else shot_noise_hz,
        )
        for name, v in values.items():
            f = _finite(name, v)
            if f < 0:
                raise ConfigError(f"`{name}`: expected a value >= 0, got {shown_value(v)}")
            check_knob_max(f"`{name}`", name, f)
        eps = 1e-3 if log_eps is None else _finite("log_eps", log_eps)
        if eps <= 0:
            raise ConfigError(f"`log_eps`: expected a positive number, got {shown_value(log_eps)}")
        object.__setattr__(self, "cp", cp_range)
        object.__setattr__(self, "cn_ratio", (mean, std))
        for name, v in values.items():
            object.__setattr__(self, name, float(v))
        object.__setattr__(self, "log_eps", eps)

    def as_attrs(self) -> dict:
        """Flat provenance attributes for an output file."""
        d = asdict(self)
        return {
            "sim_cp_range": list(d["cp"]), "sim_cn_ratio": list(d["cn_ratio"]),
            "sim_sigma": d["sigma"], "sim_refractory_us": d["refractory_us"],
            "sim_leak_hz": d["leak_hz"], "sim_shot_noise_hz": d["shot_noise_hz"],
            "sim_log_eps": d["log_eps"],
        }


def simulator_knobs() -> tuple[Field, ...]:
    """The fields of `SimulatorConfig`: name, default and metadata (help, cli, nargs, metavar, max)."""
    return fields(SimulatorConfig)


def check_knob_max(label: str, name: str, value: Any) -> None:
    """Refuse a number above knob `name`'s `max` (the noise rates), named `label` (the argument or its
    flag): the check of `SimulatorConfig` itself, so a config built by hand is bounded too."""
    top = next(f for f in simulator_knobs() if f.name == name).metadata.get("max")
    if top is not None and isinstance(value, (int, float, np.integer, np.floating)) and value > top:
        raise ConfigError(f"{label} {value:g}: expected at most {top:g} events per pixel per second")


def knob_flag(name: str) -> str:
    """The command-line flag of knob `name` (refractory_us -> --refractory-us)."""
    return "--" + name.replace("_", "-")


def _values(name: str, v, expected: str) -> tuple:
    """The items of a list, tuple or 1-D array argument; anything else (a number, or a string, whose
    characters are no numbers) is refused, naming the argument and the `expected` form."""
    if isinstance(v, (list, tuple)) or isinstance(v, np.ndarray) and v.ndim == 1:
        return tuple(v)
    raise ConfigError(f"`{name}`: expected {expected}, got {shown_value(v)}")


def _cp_range(cp) -> tuple[float, float]:
    if cp is None:
        return DEFAULT_CP_RANGE
    values = [cp] if np.isscalar(cp) else list(_values("cp", cp, "one threshold or a range (lo, hi)"))
    if len(values) not in (1, 2):
        raise ConfigError(f"`cp`: expected one threshold or a range LO HI, got {shown_value(cp)}")
    values = [_finite("cp", v) for v in values]
    lo, hi = values[0], values[-1]
    if lo < MIN_THRESHOLD or hi < MIN_THRESHOLD:  # a smaller one would be recorded but not used (the floor)
        raise ConfigError(
            f"`cp` {shown_value(cp)}: contrast thresholds must be at least {MIN_THRESHOLD} (log-intensity steps, "
            f"e.g. 0.05 to 0.5; every pixel's threshold is floored there)"
        )
    if lo > hi:
        raise ConfigError(f"`cp` {shown_value(cp)}: range LO HI must have LO <= HI")
    return (lo, hi)


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of one clip: the clip-level values and the per-pixel maps actually used."""

    cp: float
    cn: float
    sigma: float
    cp_map: np.ndarray  # float64 (H*W,)
    cn_map: np.ndarray


def draw_thresholds(config: SimulatorConfig, num_pixels: int, rng: np.random.Generator) -> Thresholds:
    """Draw the clip's Cp, Cn and the per-pixel maps from `rng` (deterministic for a seeded rng)."""
    lo, hi = config.cp
    cp = float(rng.uniform(lo, hi)) if hi > lo else lo
    mean, std = config.cn_ratio
    ratio = float(rng.normal(mean, std)) if std > 0 else mean
    cn = float(np.clip(cp * ratio, min(CN_CLIP[0], lo), max(CN_CLIP[1], hi)))
    noise = rng.standard_normal((2, num_pixels))
    with np.errstate(over="ignore"):  # a huge sigma overflows to +-inf: clipped just below
        cp_map = np.clip(cp + config.sigma * noise[0], MIN_THRESHOLD, MAX_THRESHOLD)
        cn_map = np.clip(cn + config.sigma * noise[1], MIN_THRESHOLD, MAX_THRESHOLD)
    return Thresholds(cp, cn, config.sigma, cp_map, cn_map)
