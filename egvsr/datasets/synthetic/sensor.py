"""Per-clip sensor settings of the synthetic data engine: the frame camera and the event camera.

Each clip draws its settings from one seeded generator over ranges that cover real DAVIS-type sensors:
exposure, response gamma, gain drift, noise and quantization for frames; thresholds, asymmetry,
mismatch, refractory period, leak, shot noise and hot pixels for events (docs/datasets.md gives the
ranges).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.checks import is_real
from egvsr.events.simulate.luminance import LUMA
from egvsr.events.simulate.thresholds import MAX_NOISE_HZ, SimulatorConfig

GRAY_PROB = 0.6


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


@dataclass(frozen=True)
class SensorSettings:
    """One clip's camera: frame pipeline and event-camera model (see module doc)."""

    gray: bool
    fps: float
    exposure: float        # fraction of the frame interval the shutter is open
    gamma: float           # frame encoding: value = radiance ** (1 / gamma)
    gain_rate: float       # d log(gain) / dt, per second
    read_noise: float      # std of additive noise, in [0, 1] units
    shot_noise: float      # std of signal-dependent noise: shot_noise * sqrt(value)
    cp: float
    cn_ratio: float
    sigma: float
    refractory_us: float
    leak_hz: float
    shot_noise_hz: float
    hot_fraction: float    # share of pixels that are hot
    hot_rate_hz: float

    def simulator_config(self) -> SimulatorConfig:
        """The event simulator's settings for this clip (fixed Cp and Cn/Cp; mismatch per pixel)."""
        return SimulatorConfig(cp=self.cp, cn_ratio=(self.cn_ratio, 0.0), sigma=self.sigma,
                               refractory_us=self.refractory_us, leak_hz=self.leak_hz,
                               shot_noise_hz=self.shot_noise_hz)

    def as_attrs(self) -> dict:
        """Flat provenance attributes for the clip's file."""
        return {f"sensor_{k}": (int(v) if isinstance(v, bool) else v) for k, v in asdict(self).items()}


def draw_sensor(rng: np.random.Generator) -> SensorSettings:
    """Random settings of one clip (ranges: docs/datasets.md, "Synthetic training data")."""
    gray = bool(rng.random() < GRAY_PROB)
    return SensorSettings(
        gray=gray,
        fps=float(rng.uniform(15.0, 50.0)),
        exposure=float(rng.uniform(0.05, 0.9)),
        gamma=float(rng.uniform(1.8, 2.6)),
        gain_rate=float(rng.normal(0.0, 1.0)) if rng.random() < 0.3 else 0.0,
        read_noise=float(rng.uniform(0.0, 0.012)),
        shot_noise=float(rng.uniform(0.0, 0.02)),
        cp=float(rng.uniform(0.1, 0.6)),
        cn_ratio=float(rng.uniform(0.7, 1.4)),
        sigma=float(rng.uniform(0.01, 0.06)),
        refractory_us=float(rng.uniform(0.0, 1000.0)),
        leak_hz=float(rng.uniform(0.0, 0.5)),
        shot_noise_hz=_log_uniform(rng, 0.02, 3.0),
        hot_fraction=float(rng.uniform(0.0, 5e-4)),
        hot_rate_hz=_log_uniform(rng, 20.0, 1000.0),
    )


#: (low, high, whether low itself is allowed) of the settings an override may give beyond "a number >= 0";
#: the event camera's own settings are checked by `SimulatorConfig` too
_OVERRIDE_RANGES = {"fps": (0.0, 1000.0, False), "exposure": (0.0, 1.0, False), "gamma": (0.0, math.inf, False),
                    "gain_rate": (-math.inf, math.inf, True), "hot_fraction": (0.0, 1.0, True),
                    "hot_rate_hz": (0.0, MAX_NOISE_HZ, True)}


def override_sensor(sensor: SensorSettings, override: dict) -> SensorSettings:
    """`sensor` with the settings `override` names replaced, each checked first (one line naming it): a known
    setting, `gray` a bool, the others finite numbers in their range (`_OVERRIDE_RANGES`, else >= 0)."""
    if not isinstance(override, dict):
        raise ConfigError(f"sensor_override {override!r:.80}: expected a dict of sensor settings")
    names = [f.name for f in dataclasses.fields(SensorSettings)]
    values = {}
    for name, v in override.items():
        if name not in names:
            raise ConfigError(f"sensor_override: {name!r} is not a sensor setting; expected one of {', '.join(names)}")
        if name == "gray":
            if not isinstance(v, (bool, np.bool_)):
                raise ConfigError(f"sensor_override: gray {v!r}: expected True or False")
            values[name] = bool(v)
            continue
        lo, hi, low_ok = _OVERRIDE_RANGES.get(name, (0.0, math.inf, True))
        if not (is_real(v) and math.isfinite(v) and (lo <= v if low_ok else lo < v) and v <= hi):
            raise ConfigError(f"sensor_override: {name} {v!r}: expected a finite number {'from' if low_ok else 'above'}"
                              f" {lo:g}{f' up to {hi:g}' if math.isfinite(hi) else ''}")
        values[name] = float(v)
    out = dataclasses.replace(sensor, **values)
    out.simulator_config()  # the event camera's settings as the simulator checks them (cp > 0, ...)
    return out


def radiance(rgb: np.ndarray, gain: float) -> np.ndarray:
    """Linear scene radiance of a rendered sRGB-like image, times the global gain."""
    return np.power(rgb, 2.2, dtype=np.float32) * np.float32(gain)


def encode_frame(mean_radiance: np.ndarray, s: SensorSettings, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W, C) frame from the radiance integrated over the exposure: response, noise, 8 bits."""
    x = mean_radiance @ LUMA if s.gray else mean_radiance
    v = np.power(np.clip(x, 0.0, 1.0), 1.0 / s.gamma, dtype=np.float32)
    noise = rng.standard_normal(v.shape).astype(np.float32)
    v = v + noise * (s.read_noise + s.shot_noise * np.sqrt(v))
    img = np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)
    return img[..., None] if s.gray else img


def hot_pixel_events(rng: np.random.Generator, s: SensorSettings, height: int, width: int,
                     t0: float, t1: float) -> tuple[np.ndarray, ...]:
    """Events of hot pixels in [t0, t1) µs: Poisson trains at `hot_rate_hz`, one polarity each."""
    n_hot = min(int(rng.poisson(s.hot_fraction * height * width)), height * width)  # each pixel once
    if n_hot == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty
    pix = rng.choice(height * width, size=n_hot, replace=False)
    counts = rng.poisson(s.hot_rate_hz * (t1 - t0) * 1e-6, n_hot)
    owner = np.repeat(np.arange(n_hot), counts)
    t = np.floor(rng.uniform(t0, t1, owner.size)).astype(np.int64)
    pol = np.where(rng.random(n_hot) < 0.5, 1, -1)[owner]
    return pix[owner] % width, pix[owner] // width, t, pol
