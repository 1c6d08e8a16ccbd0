"""The toolkit's own exceptions.

Every failure a user can cause (a bad file, key, argument or value) is raised as an `EgvsrError`
subclass whose message names the culprit and what was expected. The CLI prints these as one line and
exits with status 2; anything else is a bug in the toolkit.
"""

from __future__ import annotations


class EgvsrError(Exception):
    """Base class: a user-facing error with a complete, self-explanatory message."""


class InputFileError(EgvsrError):
    """An input file is missing, unreadable, truncated or of an unknown layout."""


class FormatError(InputFileError):
    """A file was recognised but a key, dtype or shape is not what its layout requires."""


class SensorSizeUnknownError(FormatError):
    """An event file states no sensor size (no attribute, header line or image to take it from): pass one."""


#: how to give a sensor size a file does not state, in every command (only `info` and `convert` take the option;
#: a converted copy states it, so every other command then reads the copy)
SENSOR_SIZE_ADVICE = ("pass --sensor-size HxW to egvsr info or egvsr convert (for the other commands, "
                      "convert it to a copy that states it), or sensor_size=(H, W) in Python")


class EventValidationError(EgvsrError):
    """Event or frame arrays violate an invariant (lengths, ordering, coordinates, values)."""


class OutputExistsError(EgvsrError):
    """An output path already exists and overwriting was not requested."""


class OutputError(EgvsrError):
    """An output cannot be written where asked (read-only or full file system, permissions, name length)."""


class ConfigError(EgvsrError):
    """A configuration value, command-line argument or option is invalid."""


class MissingDependencyError(EgvsrError):
    """An optional package needed for this input is not installed."""


class CheckpointError(InputFileError):
    """A checkpoint is corrupted, untrusted or belongs to another model."""


class IndexRangeError(ConfigError, IndexError):
    """An integer index outside the valid range; also an `IndexError`, so that `for x in dataset` and
    other users of Python's sequence protocol stop at the end."""


class IndexTypeError(ConfigError, TypeError):
    """An index or key of the wrong type (a str, float or None where an integer is expected); also a
    `TypeError`, as Python's own sequences raise."""


class SourceClosedError(EgvsrError, ValueError):
    """A reader used after `close()`; also a `ValueError`, as reading a closed Python file raises."""


def shown_value(value: object) -> str:
    """How a message shows a user's value: its repr, with NumPy scalars (also inside a tuple or list) as the
    Python numbers they stand for, so a message says `False` or `0.5`, never NumPy 2's `np.False_` or
    `np.float64(0.5)`, and reads the same under NumPy 1 and 2 (a float32 0.1 shows as 0.1, as NumPy prints it)."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == () and hasattr(value, "item"):
        plain = value.item()
        return str(value) if isinstance(plain, float) and str(value) != repr(plain) else repr(plain)
    if type(value) in (tuple, list):
        inner = ", ".join(shown_value(v) for v in value)
        return f"[{inner}]" if type(value) is list else f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)
