"""The one list of event representations: each is a `Representation` declaration, registered by name.

Everything that lists or dispatches representations (the window driver, `voxelize`, the dataset, the
render path, the CLI's choices) reads this registry, so a new representation is one declaration:
`register_representation(Representation(name, build, ...))`, from inside the package or outside it.
The built-ins declare themselves in voxel.py, moments.py, stacked_frames.py and timesurface.py; every
module of this package that declares one is found and imported on the first lookup (`egvsr.plugins`);
listing names loads no numba kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from egvsr.errors import ConfigError
from egvsr.events.represent.validation import POLARITIES, check_unit
from egvsr.plugins import DeclaredModules

#: build(stream, starts, ends, bins, size, polarity, threads, **params) -> (K, bins, ...) float32:
#: the tensors of K checked windows [starts[k], ends[k]) before normalization, `size` = (h, w) or None
#: for the sensor size; events outside the sensor must be refused (the stream may be unvalidated).
Builder = Callable[..., np.ndarray]

#: Listing order of the built-in modules; any other module of this package with a line starting
#: `register_representation(` (or `NAME = register_representation(`) is found and loaded after them.
_FIRST = ("voxel", "moments", "stacked_frames", "timesurface")
_MARKER = r"(?:[A-Za-z_]\w*\s*(?::[^=\n]*)?=\s*)?register_representation\("


@dataclass(frozen=True)
class Representation:
    """Declaration of one representation.

    name: the key used by `voxelize --repr`, the dataset's `representation` and training configs.
    build: the functional kernel (see `Builder`). polarities: the polarity options it accepts (the
    first is its default). channels: the channel count P of its (bins, P, h, w) tensor, or None
    when the polarity decides (signed: 1, with (bins, h, w) windows; split: 2). additive: tensors
    are sums over events (a window split between two chunks is the sum of the parts), which lets
    `voxelize` stream it. params: extra keyword options `build` accepts (e.g. tau_us). `voxelize` and
    the dataset refuse a polarity or option that is not declared here (`check_options`). unit: what one
    event contributes to a cell at most (1 for sums of event weights or counts; 0, the default: unknown),
    the least scale of the float32 rounding left-overs that normalization drops (`normalize_windows`).
    """

    name: str
    build: Builder
    description: str = ""
    polarities: tuple[str, ...] = POLARITIES
    channels: int | None = None
    additive: bool = True
    params: tuple[str, ...] = ()
    unit: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ConfigError(f"representation name: expected an identifier, got {self.name!r}")
        if not callable(self.build):
            raise ConfigError(f"representation {self.name!r}: build must be callable")
        bad = [p for p in self.polarities if p not in POLARITIES]
        if not self.polarities or bad:
            raise ConfigError(f"representation {self.name!r}: polarities must be among {', '.join(POLARITIES)}")
        if self.channels is not None and (isinstance(self.channels, bool) or not isinstance(self.channels, int)
                                          or self.channels < 1):
            raise ConfigError(f"representation {self.name!r}: channels must be None or an integer >= 1")
        object.__setattr__(self, "unit", check_unit(self.unit, f"representation {self.name!r}: unit"))

    def check_options(self, polarity: str | None = None, labels: Mapping[str, str] | None = None,
                      **params: Any) -> str:
        """The polarity to use, after refusing any option given that this representation does not take.

        What it takes is what it declares: `polarities` and `params`. polarity: one of POLARITIES, or
        None for its default (the first of `polarities`). params: extra options by `build`'s keyword
        (e.g. tau_us=...), None meaning not given. labels: how messages name an option, when the
        caller's name differs (e.g. {"tau_us": "tau_ms"}). So an option is refused only when given.
        """
        labels = labels or {}
        if polarity is not None and polarity not in self.polarities:
            raise ConfigError(
                f"{labels.get('polarity', 'polarity')} {polarity!r}: representation {self.name!r} takes only "
                f"{' or '.join(map(repr, self.polarities))}; leave the polarity out to use its default"
            )
        for key, value in params.items():
            if value is not None and key not in self.params:
                users = [n for n in representation_names() if key in _REGISTRY[n].params]
                which = f"only {', '.join(users)} {'does' if len(users) == 1 else 'do'}" if users else "none does"
                raise ConfigError(
                    f"{labels.get(key, key)} {value!r}: representation {self.name!r} does not use this option "
                    f"({which}); leave it out"
                )
        return self.polarities[0] if polarity is None else polarity

    def polarity_channels(self, polarity: str) -> int:
        """P of the (bins, P, h, w) event tensor under `polarity`."""
        if self.channels is not None:
            return self.channels
        return 1 if polarity == "signed" else 2

    def window_shape(self, bins: int, polarity: str, height: int, width: int) -> tuple[int, ...]:
        """Shape of one window's tensor as `build` returns it."""
        if self.channels is None and polarity == "signed":
            return (bins, height, width)
        return (bins, self.polarity_channels(polarity), height, width)


_REGISTRY: dict[str, Representation] = {}
_DECLARED = DeclaredModules(__package__, _MARKER, _FIRST)  # this package's declaring modules, in listing order


def _load_builtins() -> None:
    _DECLARED.load()


def _builtin_names() -> list[str]:
    """Names declared by this package's modules, in module order (read from the modules, since the
    module whose import started the loading registers only after it)."""
    names = [v.name for m in _DECLARED.modules for v in vars(m).values() if isinstance(v, Representation)]
    return [n for n in dict.fromkeys(names) if n in _REGISTRY]


def register_representation(decl: Representation, *, replace: bool = False) -> Representation:
    """Add `decl` under `decl.name` (an existing name only with `replace`); returns `decl`."""
    if not isinstance(decl, Representation):
        raise ConfigError(f"register_representation: expected a Representation, got {type(decl).__name__}")
    _load_builtins()
    if decl.name in _REGISTRY and not replace:
        raise ConfigError(f"representation {decl.name!r} is already registered (pass replace=True)")
    _REGISTRY[decl.name] = decl
    return decl


def unregister_representation(name: str) -> Representation | None:
    """Remove `name` from the registry; returns its declaration (None when absent)."""
    _load_builtins()
    return _REGISTRY.pop(name, None)


def representation_names() -> tuple[str, ...]:
    """Registered names: the built-ins, then the others in registration order."""
    _load_builtins()
    builtins = _builtin_names()
    return tuple(builtins + [n for n in _REGISTRY if n not in builtins])


def get_representation(name: object, what: str = "representation") -> Representation:
    """The declaration of `name`; a `ConfigError` naming `what` and the choices otherwise."""
    _load_builtins()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"{what}: expected one of {', '.join(representation_names())}, got {name!r}")
    return _REGISTRY[name]
