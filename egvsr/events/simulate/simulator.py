"""`EventSimulator`: a streaming event camera. Feed (sub-)frames in time order, get their events.

Frames become float32 luminance in [0, 1]; the per-pixel state and the per-interval work live in
`esim.NumbaESIM` (numba) or, for tests and benchmarks, `reference.NumpyESIM` (same model, numpy).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.represent.validation import check_threads
from egvsr.events.simulate.budget import check_frame_memory
from egvsr.events.simulate.esim import NumbaESIM
from egvsr.events.simulate.luminance import to_luminance
from egvsr.events.simulate.noise import shot_events
from egvsr.events.simulate.reference import NumpyESIM
from egvsr.events.checks import is_real
from egvsr.events.simulate.thresholds import SimulatorConfig, Thresholds, draw_thresholds
from egvsr.events.stream import EventStream

_BACKENDS = {"numba": NumbaESIM, "numpy": NumpyESIM}

#: Frame times beyond this (µs, about 285 years) are refused: their int64 µs and float64 differ. The model
#: itself works in float64 µs since the first frame (`reset`), so its µs are exact at any time below this.
MAX_TIME_US = 2**53
#: Most pixels per side of a sensor (its coordinates are stored as uint16).
MAX_SIDE = 65535


def check_seed(seed: object) -> int:
    """A simulation's seed as an int: an integer in 0..2**63-1, the range the output files store (int64)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ConfigError(f"`seed`: expected an integer in 0..2**63-1 (output files store it as int64), got {seed!r}")
    return int(seed)


def _check_side(name: str, v) -> int:
    """A sensor side: a whole number of pixels in 1..MAX_SIDE."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not 1 <= v <= MAX_SIDE:
        raise ConfigError(f"{name}: expected a whole number of pixels in 1..{MAX_SIDE}, got {v!r}")
    return int(v)


def check_time(t_us: float | Fraction) -> float | Fraction:
    """A frame time in µs as a float (a `Fraction`, an exact sub-frame time, kept exact), refused when not
    a number (a str or bool: `ConfigError`), NaN or infinite, or beyond +-2**53 µs."""
    if not (is_real(t_us) or isinstance(t_us, Fraction)):
        raise ConfigError(f"`t_us` {t_us!r}: expected a number of microseconds")
    try:
        exact = int(t_us)
    except (ValueError, OverflowError):
        raise EventValidationError(f"frame time {t_us!r} µs: expected a finite number of microseconds") from None
    if abs(exact) > MAX_TIME_US:
        raise EventValidationError(
            f"frame time {t_us!r} µs: beyond +-2**53 µs (about 285 years), where the simulator's time "
            "is no longer exact; shift the timestamps towards 0"
        )
    return t_us if isinstance(t_us, Fraction) else float(t_us)


class EventSimulator:
    """ESIM-style event camera of `width` x `height` pixels with settings `config`, seeded.

    `reset(frame, t_us)` sets the reference levels from a first frame (it emits nothing); each
    `feed(frame, t_us)` then returns the events between the previous frame and this one as an
    `EventStream` with int64 µs time. Frames: see `to_luminance` (float frames in [0, 1]; a bad frame is
    named by its index among the frames taken, 0 the first, and changes nothing). Times must strictly increase;
    a `Fraction` is taken exactly (sub-frames between integer frame times). The model runs on times since
    the first frame's whole µs (float64 there keeps far below a µs at any absolute time, where float64 µs
    since 1970 step by 0.25 µs), and the events' int64 µs add that origin back exactly.
    `threads`: numba threads per step (None: numba's current setting; 1: the serial kernel, which
    never starts numba's thread pool); the events are the same for any count.
    """

    def __init__(
        self, width: int, height: int, config: SimulatorConfig | None = None, seed: int = 0,
        backend: str = "numba", threads: int | None = None,
    ) -> None:
        if backend not in _BACKENDS:
            raise ConfigError(f"backend {backend!r}: expected one of {sorted(_BACKENDS)}")
        self.width, self.height = _check_side("width", width), _check_side("height", height)
        if config is not None and not isinstance(config, SimulatorConfig):
            raise ConfigError(f"config: expected a SimulatorConfig, got {type(config).__name__}")
        self.seed = check_seed(seed)
        check_frame_memory(self.width, self.height, "width x height",
                           "simulate smaller frames")  # before any per-pixel state is allocated
        self.config = config or SimulatorConfig()
        rng = np.random.default_rng(self.seed)
        self.thresholds: Thresholds = draw_thresholds(self.config, self.width * self.height, rng)
        self._noise_key = int(rng.integers(0, 2**63))
        self._phase = rng.random(self.width * self.height)
        cfg = self.config
        self._model = _BACKENDS[backend](
            self.thresholds.cp_map, self.thresholds.cn_map, self.width, cfg.log_eps,
            cfg.leak_hz * 1e-6, cfg.refractory_us, check_threads(threads, "`threads`"),
        )
        # two luminance buffers, used in turn: the model keeps the last frame as the next start
        self._lum = [np.empty(self.width * self.height, np.float32) for _ in range(2)]
        self._held = 0
        self._taken = 0  # frames taken so far (reset and feed): the index an error names
        self._started = False
        self._t_prev: float | Fraction = 0.0
        self._origin = 0  # whole µs of the first frame: the model's time 0
        self._rel_prev = 0.0  # _t_prev - _origin, the model's time of the last frame
        self._interval = 0

    @property
    def started(self) -> bool:
        """Whether a first frame was given (the per-pixel reference levels are set)."""
        return self._started

    @property
    def t_last(self) -> float:
        """Time (µs) of the last frame given, as a float."""
        return float(self._t_prev)

    def reset(self, frame: np.ndarray, t_us: float) -> None:
        """Start (or restart) at `frame`, time `t_us`: reference = its log intensity; no events."""
        t = check_time(t_us)
        I = self._luminance(frame)
        offset = None
        if self.config.leak_hz > 0:  # random leak phase, so leak events are not synchronous
            offset = self._phase * self.thresholds.cp_map
        self._origin = math.floor(t)
        self._rel_prev = float(t - self._origin)
        self._model.start(I, offset, self._rel_prev)
        self._held = 1 - self._held
        self._taken += 1
        self._started = True
        self._t_prev = t

    def _luminance(self, frame: np.ndarray) -> np.ndarray:
        """The frame's luminance, in the buffer the model does not hold (a bad frame changes nothing;
        `_held` flips once the model has taken the frame). Errors name the frame by its index in the
        order frames were taken (0: the first)."""
        return to_luminance(frame, self.height, self.width, out=self._lum[1 - self._held],
                            where=f"frame {self._taken}")

    def feed(self, frame: np.ndarray, t_us: float) -> EventStream:
        """Events in (previous time, t_us] from linear log-intensity change; starts if needed."""
        if not self._started:
            self.reset(frame, t_us)
            return EventStream.empty(self.width, self.height)
        t = check_time(t_us)
        if t <= self._t_prev:
            raise EventValidationError(
                f"frame time {t_us!r} µs: timestamps must strictly increase "
                f"(previous frame at {float(self._t_prev)!r} µs)"
            )
        I = self._luminance(frame)
        ta, tb = self._rel_prev, float(t - self._origin)
        shots = shot_events(self._noise_key, self._interval, I.shape[0],
                            self.config.shot_noise_hz * 1e-6, ta, tb - ta)
        x, y, tt, p = self._model.step(I, ta, tb, shots)
        tt += self._origin
        self._held = 1 - self._held
        self._taken += 1
        self._t_prev = t
        self._rel_prev = tb
        self._interval += 1
        return EventStream(x, y, tt, p, self.width, self.height, validate=False)
