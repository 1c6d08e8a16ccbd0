"""`open_recording`: a path -> the `Recording` adapter of its layout, detected from content.

It lives apart from `recording.py` so that the base class never imports its subclasses. The
adapters load on the first call.
"""

from __future__ import annotations

import os
from pathlib import Path

from egvsr.datasets.recording import Recording
from egvsr.errors import ConfigError, InputFileError


class OptionError(ConfigError):
    """A value of an option (of `EventVSRDataset`, or `open_recording`'s `fps`) refused for a reason of its
    own (not its type); `option` names it and `problem` may say `{option}`, `{none}` and `{at}` (put before
    another option's name), so that a dataset built from a config section can name the section's keys and
    YAML's `null` instead (`in_config`). Literal text in `problem` goes through `literal` (a path's braces)."""

    def __init__(self, option: str, problem: str) -> None:
        self.option, self.problem = option, problem
        super().__init__(f"{option}: " + problem.format(option=option, none="None", at=""))

    def in_config(self, where: str) -> ConfigError:
        """The same error naming the key `<where>.<option>` of a config section (and `<where>.` before the
        other options it names)."""
        key = f"{where}.{self.option}"
        return ConfigError(f"{key}: " + self.problem.format(option=key, none="null", at=f"{where}."))

    @staticmethod
    def literal(text: object) -> str:
        """`text` to be shown as is inside `problem` (braces doubled)."""
        return str(text).replace("{", "{{").replace("}", "}}")


def check_fps_applies(recording: type[Recording] | Recording, fps: float | None, path: object = None,
                      layout: str | None = None) -> None:
    """Refuse `fps` (an `OptionError` naming it) for a recording that states its frames' times: `fps` times only
    the frames of a layout without timestamps (EvTexture: frame i at i/fps), so elsewhere it would be ignored.
    `recording` is an open recording, or the class about to open `path` of `layout`; one already open must
    have been opened at that `fps`."""
    if fps is None:
        return
    where = OptionError.literal(recording.path if path is None else path)  # type: ignore[union-attr]
    if not recording.takes_fps:
        kind = OptionError.literal(recording.layout if layout is None else layout)
        raise OptionError("fps", f"{where} states its frames' times ({kind} layout); {{option}} applies only to "
                                 "recordings without timestamps (EvTexture files): leave {option} unset ({none})")
    opened_at = getattr(recording, "fps", None) if isinstance(recording, Recording) else None
    if opened_at is not None and float(opened_at) != float(fps):
        raise OptionError("fps", f"{fps!r}: {where} is already open at {float(opened_at):g} fps; pass {{option}} "
                                 "to open_recording, or give its path instead")


def open_recording(path: str | os.PathLike, *, fps: float | None = None,
                   hr_path: str | os.PathLike | None = None) -> Recording:
    """Open any supported recording (content-detected); reads metadata only.

    `fps` sets frame times for layouts without timestamps (EvTexture: frame i at i/fps, 25 by
    default) and is refused for the others (`check_fps_applies`); `hr_path` names the HR file paired
    with an EvTexture LR file (default: the sibling found by replacing the `LRx<n>` folder with `HR`).
    """
    from egvsr.datasets.adapters import ADAPTERS, SourceRecording
    from egvsr.events.io.arguments import check_path
    from egvsr.events.io.detect import detect_layout

    path = check_path(path, "path")  # a recording file or folder: bytes or None is refused naming `path`
    if not path.exists():
        raise InputFileError(f"{path}: recording not found")
    layout = detect_layout(path)
    adapter = ADAPTERS.get(layout)
    if adapter is not None:
        return adapter(path, fps=fps, hr_path=hr_path)
    check_fps_applies(SourceRecording, fps, path, layout)
    if hr_path is not None:
        raise InputFileError(
            f"{path}: hr_path is only meaningful for EvTexture LR files (this recording has its own "
            "HR frames and raw events)"
        )
    return SourceRecording(path, layout)



def input_folder_members(folder: Path) -> list:
    """What the readers take from input folder `folder`: a CED folder's packets and frames, a frame
    folder's images (`egvsr.fsutil.listed_members`), for `egvsr.fsutil.refuse_inputs_as_outputs`."""
    from egvsr.events.io.ced_folder import folder_members as ced_members
    from egvsr.events.simulate.video_input import folder_members as frame_members
    from egvsr.fsutil import listed_members

    return listed_members(folder, ced_members, frame_members)
