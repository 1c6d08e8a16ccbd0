"""Figure helpers shared by the plots: a pyplot-free Figure, an atomic save in the format the file's name
says, and text drawn as it is written."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any, Callable, Iterator, ParamSpec, TypeVar

from egvsr.fsutil import atomic_output, check_output_path, write_failure

P = ParamSpec("P")
R = TypeVar("R")

#: the tallest and the widest shape (height / width) a picture panel is drawn at: a frame or sensor beyond
#: it (a 1x1000 line sensor) is drawn at this shape, its pixels stretched (the panel's title says by how
#: much), so the PNG stays within about 1300x1900 pixels whatever the recording's size
PANEL_ASPECTS = (0.25, 4.0)

#: the longest side the event pictures are drawn at (`egvsr show`, `plot_events`): a larger sensor (or frame)
#: is drawn in cells of f x f pixels (events summed, the frame's top-left pixel of each cell), so its memory
#: and time are bounded by the picture, not by a size the file declares (a panel is ~440 PNG pixels wide:
#: nothing visible is lost)
PICTURE_MAX_SIDE = 2048

#: the formats a figure is written in, by the output's suffix (any case): the bytes are what the name says
FIGURE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}
#: suffixes of picture formats that the plots do not write: refused rather than given PNG bytes
OTHER_PICTURE_SUFFIXES = frozenset({".eps", ".ps", ".tif", ".tiff", ".webp", ".svgz", ".pgf", ".gif", ".bmp",
                                    ".raw", ".rgba", ".jp2", ".ppm"})


#: rcParams every picture is drawn under, whatever the user's matplotlibrc says: `text.usetex` would hand
#: every title to a LaTeX that may not be installed (a crash while saving) and read file names as TeX, and
#: `text.parse_math: False` would draw the backslash of each `\$` that `plain` escapes
HOUSE_RC = {"text.usetex": False, "text.parse_math": True}


def house_style(draw: Callable[P, R]) -> Callable[P, R]:
    """`draw` (a public plot) run under `HOUSE_RC`; the caller's rcParams are restored after."""

    @functools.wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> R:
        import matplotlib

        with matplotlib.rc_context(HOUSE_RC):
            return draw(*args, **kwargs)

    return drawn


def new_figure(width_in: float, height_in: float, dpi: int = 110) -> Any:
    """A matplotlib `Figure` not registered with pyplot (no global state, no GUI backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=dpi)


def check_plotting() -> None:
    """Import what drawing and saving a figure needs (matplotlib's Figure and Agg canvas), so a command that
    ends with a plot is refused for a missing matplotlib before its work, not after it."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


@contextlib.contextmanager
def writing(out: str | os.PathLike) -> Iterator[None]:
    """A write of output `out` (to its temporary) that fails with an OSError (a full disk, a quota, a file
    size limit, raised by matplotlib, PIL or Python) as the house's one-line `OutputError` naming `out`
    (docs/io.md), not a traceback: also where the writer loses that OSError to a second error of its own
    (matplotlib's PDF backend, closing its half-written stream, raises an AttributeError), and a Ctrl-C met
    there stays a Ctrl-C (`fsutil.write_failure`)."""
    try:
        yield
    except Exception as exc:
        failure = write_failure(Path(out), exc)
        if failure is exc:
            raise
        raise failure from None


def check_figure_path(path: object, overwrite: bool = False, what: str = "path", named_format: bool = True) -> Path:
    """The output `path` of a plot checked before any drawing: a str or os.PathLike naming a file (not empty,
    no NUL byte: one `ConfigError` naming the argument `what`), where a file may be written (an existing
    one only with `overwrite`, never a folder or a link: `check_output_path`), and whose name asks for no
    picture format the plots cannot write (`figure_format`; `named_format=False` leaves the name's format to
    the caller, as `show_recording` checks its own)."""
    from egvsr.events.io.arguments import check_path

    out = check_output_path(check_path(path, what, "an output file path"), overwrite)
    if named_format:
        figure_format(out)
    return out


def figure_format(path: str | os.PathLike) -> str:
    """matplotlib's format for a figure written to `path`: the one its suffix names (`FIGURE_FORMATS`, any
    case), PNG for a name with another suffix or none (`clip.fig`, a temporary); a suffix of a picture
    format not in `FIGURE_FORMATS` (`.eps`, `.tif`) is refused, where PNG bytes would belie the name."""
    from egvsr.errors import ConfigError

    suffix = Path(path).suffix.lower()
    if suffix in OTHER_PICTURE_SUFFIXES:
        raise ConfigError(f"{path}: a {suffix} picture is not written; expected a name ending in "
                          f"{', '.join(FIGURE_FORMATS)} (the figure is written in the format its name says)")
    return FIGURE_FORMATS.get(suffix, "png")


def plain(text: object) -> str:
    """`text` to be drawn as it is written: matplotlib reads text between two `$` as math (a file name
    `cost$_1$.h5` drawn as `cost1.h5` with a subscript, and `a$\\frac$.h5` a crash while saving), so every
    `$` is escaped."""
    return str(text).replace("$", r"\$")


def save_figure(fig: Any, path: str | os.PathLike, overwrite: bool = False, fmt: str = "png") -> Path:
    """Write `fig` in matplotlib's format `fmt` to `path` atomically; refuses an existing file unless
    `overwrite`."""
    check_figure_path(path, overwrite)
    with atomic_output(path, overwrite) as tmp, writing(path):
        fig.savefig(tmp, format=fmt)
    return Path(path)


def save_as_named(fig: Any, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `fig` to `path` atomically in the format its name says (`figure_format`: a PNG unless the name
    ends in .pdf, .svg, .jpg or .jpeg); refuses an existing file unless `overwrite`."""
    return save_figure(fig, path, overwrite, figure_format(path))


def panel_aspect(h: int, w: int) -> float:
    """The shape (height / width) an h x w picture is drawn at: its own, within `PANEL_ASPECTS`."""
    lo, hi = PANEL_ASPECTS
    return min(max(h / max(w, 1), lo), hi)


def pixel_aspect(h: int, w: int) -> float:
    """The height / width each pixel of an h x w picture is drawn at (imshow's `aspect`): 1 unless the
    picture is beyond `PANEL_ASPECTS`."""
    return panel_aspect(h, w) / (h / max(w, 1))


def stretch_note(h: int, w: int) -> str:
    """'' for a picture drawn at its own shape, else what `panel_aspect` did to its pixels."""
    ratio = pixel_aspect(h, w)
    if abs(ratio - 1) < 1e-9:
        return ""
    by = max(ratio, 1 / ratio)
    times = f"{by:,.0f}" if by >= 100 else f"{by:.3g}"
    return f", pixels drawn {times}x {'taller' if ratio > 1 else 'wider'}"


def cell_size(height: int, width: int) -> int:
    """Side f of the f x f pixel cells an h x w picture is drawn in: 1 up to `PICTURE_MAX_SIDE`."""
    return max(1, -(-max(int(height), int(width)) // PICTURE_MAX_SIDE))


def cells(height: int, width: int, f: int) -> tuple[int, int]:
    """(rows, columns) of f x f cells covering an h x w picture."""
    return -(-int(height) // f), -(-int(width) // f)
