"""Reader for Prophesee recordings: DAT via `expelliarmus` (tonic's decoder), RAW EVT2 and EVT3 via our
own `evt2` and `evt3` decoders (expelliarmus drops whole EVT2 reads at an unknown word type and mis-times
EVT3; see there). Kind and sensor size come from the `%` text header (`prophesee_header`); the decoders
are imported only when a file is read.

EVT2 and DAT store time in a counter that wraps (34 bits, 4 h 46 min; 32 bits, 71.6 min), and
expelliarmus 1.1.12 undoes it wrongly (EVT2: never; DAT: at every decrease, so a 50 µs jitter became
a 71.6-minute jump); we undo it ourselves (`unwrap_times`) from the counter's value, each step the shorter
way round the counter.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from egvsr.errors import SENSOR_SIZE_ADVICE, FormatError, MissingDependencyError, SensorSizeUnknownError
from egvsr.events.io import prophesee_header
from egvsr.events.io.declaration import Layout
from egvsr.events.io.streamed import StreamedSource, header_size
from egvsr.native_stderr import stderr_held

#: events per expelliarmus chunk (DAT), words per block of our EVT2 decoder
_DECODE_CHUNK = 1 << 20
#: bytes of a DAT CD event (u32 time, u32 address), the only size the DAT decoder reads
DAT_EVENT_BYTES = 8
#: most bytes of `%` header lines read (real headers are a few KiB); a longer one is refused
MAX_HEADER_BYTES = 1 << 24
#: bits of the time counter (EVT2: 28-bit TIME_HIGH + 6-bit low; DAT: u32)
TIME_BITS = {"evt2": 34, "dat": 32}
#: what expelliarmus prints at any time decrease, wraps included; our own checks name the index instead
_DECODER_WARNING = b"WARNING: The timestamps are not monotonic."


def unwrap_times(t: np.ndarray, bits: int, state: list[int]) -> np.ndarray:
    """Times (int64 µs) of a time counter of `bits` bits that wraps, from the decoder's `t` (the counter's
    value plus any multiple of 2**bits). Each step from one event to the next is taken the shorter way round
    the counter: a drop of more than half its range is a wrap (time goes on), a rise of half its range or
    more is a step back across a wrap (a few µs of jitter straddling a wrap stays a drop of a few µs: read
    as a rise, it would move every later event a whole period on), any other step is what it is. No time
    lies before the counter's first pass, so a step back across a wrap there is read as the rise. `state`
    ([last counter value, wraps so far], empty at the start) carries the count from chunk to chunk, so
    chunked passes agree with a whole one. A chunk with nothing to change (in range, no wrap so far) comes
    back as `t` itself, uncopied."""
    period = 1 << bits
    half = period >> 1
    raw = np.asarray(t, np.int64)
    if not raw.size:
        return raw
    lo, hi = int(raw.min()), int(raw.max())
    if lo < 0 or hi >= period:
        raw = raw & (period - 1)
        lo, hi = int(raw.min()), int(raw.max())
    if not state:
        state[:] = [int(raw[0]), 0]
    if max(hi, state[0]) - min(lo, state[0]) < half:  # no step can cross a wrap: the usual chunk, one
        state[0] = int(raw[-1])  # offset for all (no copy, no diff, no cumulative sum)
        return raw + (state[1] << bits) if state[1] else raw
    step = np.diff(raw, prepend=np.int64(state[0]))
    walk = state[1] + np.cumsum((step < -half).astype(np.int64) - (step >= half), dtype=np.int64)
    # wraps so far never below 0 (a step back across a wrap before the first one is a rise):
    # the walk reflected at 0, L_k = S_k - min(0, min_{j<=k} S_j)
    loops = walk - np.minimum(np.minimum.accumulate(walk), 0)
    state[:] = [int(raw[-1]), int(loops[-1])]
    return raw + (loops << bits)


def header_runs_to_eof(path: Path) -> bool:
    """True when the file's leading '%' lines run into the end of the file without a newline.

    expelliarmus 1.1.12 skips every leading line that starts with '%' (also past '% end') and loops
    forever when the file ends inside one, so such a DAT file must never reach it. A RAW (EVT2, EVT3) file is
    decoded by us from the byte after `% end`, whose first payload byte may well be '%' (0x25: a y of 37)."""
    with open(path, "rb") as fh:
        while fh.read(1) == b"%":
            while True:
                part = fh.readline(1 << 16)
                if part.endswith(b"\n"):
                    break
                if len(part) < 1 << 16:  # end of file inside the line
                    return True
    return False


class PropheseeSource(StreamedSource):
    """A Prophesee `.raw` (EVT2, EVT3: our `evt2`, `evt3` decoders) or `.dat` (expelliarmus) file."""

    def __init__(self, path: Path, layout: str, sensor_size: tuple[int, int] | None) -> None:
        self.path = Path(path)
        self.layout = layout
        head = prophesee_header.read_header(self.path, MAX_HEADER_BYTES)
        if head is None:
            raise FormatError(
                f"{path}: the {layout} text header ('%' lines) runs past {MAX_HEADER_BYTES:,} bytes; the file is "
                "damaged or not a Prophesee recording"
            )
        if layout == "evt2" and prophesee_header.is_evt21(head):
            raise FormatError(
                f"{path}: the header declares EVT 2.1 (64-bit words, 32-pixel vectors), which egvsr does not "
                "decode (it reads EVT 2.0, EVT 3.0 and DAT): record or convert to EVT 3.0 or EVT 2.0"
            )
        if sensor_size is None:
            sensor_size = prophesee_header.sensor_size(head)
            if sensor_size is None:
                raise SensorSizeUnknownError(
                    f"{path}: the {layout} header names no sensor size (no 'format ...;height=;width=', "
                    f"'geometry WxH' or Height/Width lines); {SENSOR_SIZE_ADVICE}"
                )
            sensor_size = header_size(self.path, layout, sensor_size)
        if layout == "dat" and header_runs_to_eof(self.path):  # RAW payloads are ours: never given to expelliarmus
            raise FormatError(
                f"{path}: the {layout} file ends inside a '%' header line (no newline after it, no event "
                "data); the file is truncated or not a Prophesee recording"
            )
        self._tmp: str | None = None
        self._data_offset = len(head)
        if layout == "dat":
            self._check_event_size()
        self._damage = self._cut_word()
        self._decode_path = self._with_extension(Path(path), ".dat") if layout == "dat" else Path(path)
        super().__init__(path, sensor_size[1], sensor_size[0])

    def _check_event_size(self) -> None:
        """Refuse a DAT whose 2-byte preamble (event type, event size) declares events of another size than
        8 bytes: expelliarmus decodes 8-byte CD events whatever it says, so other events would be read as
        garbage and a cut judged by the declared size (0, as older writers leave it, reads as 8)."""
        at = self._data_offset + 1
        with open(self.path, "rb") as fh:
            fh.seek(at)
            size = (fh.read(1) or b"\0")[0]
        if size not in (0, DAT_EVENT_BYTES):
            raise FormatError(
                f"{self.path}: the dat header declares events of {size} bytes (byte {at}); expected "
                f"{DAT_EVENT_BYTES}-byte CD events (the only ones the DAT decoder reads); the file is damaged or "
                "holds another kind of event"
            )

    def _cut_word(self) -> str | None:
        """Where the payload ends inside a word (EVT2: 4 bytes, EVT3: 2, DAT: an 8-byte event after its
        2-byte preamble): the file was cut short; the decoders read the words before it."""
        start = self._data_offset + (2 if self.layout == "dat" else 0)
        unit = {"evt2": 4, "evt3": 2, "dat": DAT_EVENT_BYTES}[self.layout]
        payload = os.stat(self.path).st_size - start
        stray = payload % unit if payload > 0 else 0
        if not stray:
            return None
        what = f"a DAT event ({unit} bytes)" if self.layout == "dat" else f"a {8 * unit}-bit {self.layout.upper()} word"
        return (f"the file ends {stray} byte{'s' if stray > 1 else ''} into {what} (at byte {start + payload - stray}): "
                "it was cut short (truncated when copied or recorded?); the events before it are read")

    def damage(self) -> str | None:
        return self._damage

    def _with_extension(self, path: Path, ext: str) -> Path:
        """expelliarmus insists on the extension: give it a hard link (or copy) that has one."""
        if path.suffix.lower() == ext and path.suffix == ext:
            return path
        self._tmp = tempfile.mkdtemp(prefix="egvsr-bridge-")
        alias = Path(self._tmp) / f"recording{ext}"
        try:
            os.link(path, alias)
        except OSError:
            shutil.copyfile(path, alias)
        return alias

    def close(self) -> None:
        super().close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _packets(self):
        if self.layout == "evt3":  # our decoder: expelliarmus mis-times EVT3 (see evt3.py)
            from egvsr.events.io import evt3

            yield from evt3.decode_file(self.path, self._data_offset)
            return
        if self.layout == "evt2":  # our decoder: expelliarmus drops reads at unknown words (see evt2.py)
            from egvsr.events.io import evt2

            packets = evt2.decode_file(self.path, self._data_offset, _DECODE_CHUNK)
        else:
            packets = self._dat_packets()
        state: list[int] = []
        for x, y, t, p in packets:
            yield x, y, unwrap_times(t, TIME_BITS[self.layout], state), p

    def _dat_packets(self):
        """DAT packets from expelliarmus, times as its counter gives them (the caller unwraps them)."""
        try:
            from expelliarmus import Wizard
        except ImportError:
            raise MissingDependencyError(
                f"{self.path}: reading {self.layout} needs 'expelliarmus' (an egvsr dependency): "
                "pip install expelliarmus"
            ) from None
        try:
            wizard = Wizard(encoding=self.layout, fpath=self._decode_path, chunk_size=_DECODE_CHUNK)
        except TypeError:  # expelliarmus 1.1.0 and older: no fpath, chunk_size nor read_chunk
            raise MissingDependencyError(
                f"{self.path}: reading {self.layout} needs expelliarmus >= 1.1.7 (installed: "
                f"{_version('expelliarmus')}): pip install -U expelliarmus"
            ) from None
        chunks = wizard.read_chunk()
        while True:
            with stderr_held(drop=(_DECODER_WARNING,)):  # per chunk: never while our caller prints
                ev = next(chunks, None)
            if ev is None:
                return
            # polarity is bit 28 of the event word, as Prophesee's own DAT loader reads it (`& 268435456`);
            # expelliarmus gives bits 28..31, whose upper three no CD event uses
            yield ev["x"], ev["y"], ev["t"], self._signed_polarity(ev["p"] & 1, "01", 0)

    def unsorted_hint(self, before: int, after: int) -> str | None:
        """A drop of over a quarter of the time counter's range may well be a gap between events of over half
        its range that spans a wrap (`unwrap_times` cannot tell them apart): sorting would scramble it."""
        bits = TIME_BITS.get(self.layout)
        if bits is None or before - after <= 1 << (bits - 2):
            return None
        return (
            f"a drop this large may be a gap of {(1 << bits) - (before - after)} µs without events, which the "
            f"{self.layout} time counter (wrapping every {1 << bits} µs) cannot tell from a drop; sorting "
            "would then scramble the recording, so `egvsr convert --sort` is no fix for it"
        )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _declare(kind: str, description: str) -> Layout:
    return Layout(kind, description, sniff=lambda head: prophesee_header.detect(head) == kind,
                  open=lambda path, sensor_size=None: PropheseeSource(path, kind, sensor_size))


LAYOUTS = (
    _declare("evt2", "Prophesee EVT2 .raw (text header with evt 2.0 / format EVT2)"),
    _declare("evt3", "Prophesee EVT3 .raw (text header with evt 3.0 / format EVT3)"),
    _declare("dat", "Prophesee DAT (text header '% Data file containing CD events')"),
)
