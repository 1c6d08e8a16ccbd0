"""YAML files read with the toolkit's errors: one-line parse messages, a mapping at the top level.

A YAML alias (`*name`) repeats the value its anchor names without copying it, so a 2 KB file can stand
for 2**40 values that every merge, copy or comparison of the config would walk ("billion laughs"): what is
read is bounded by the values it expands to (`check_expanded_size`), and a value that contains itself is
refused.

Numbers and booleans are read as YAML 1.2 reads them: PyYAML follows YAML 1.1, where `1e-2`, `2e0`,
`1.5e3` and `.5e1` (an exponent without a sign or a mantissa without a dot) are strings, `010` is octal 8,
`1:30` is base-60 90 and `yes`/`no`/`on`/`off` are booleans. `Loader` reads integers as decimal, `0o`
octal or `0x` hex, floats with a dot or an exponent (and `.inf`, `.nan`), and booleans only as
true/false (True, TRUE, ...); the rest stays text. `safe_dump` quotes a string that either reading takes
for a number or boolean, so a written config reads back the same. A key given twice in one mapping is
refused naming the key and both lines (YAML 1.1 kept the last silently, dropping a whole section).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

#: YAML 1.2 floats that YAML 1.1 reads as strings: an exponent without a sign or without a dot before it
#: (`1e-2`, `2E+3`, `1.5e3`, `.5e1`), and a signed mantissa starting with the dot (`-.5`)
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$|^[-+]\.[0-9_]+$")
#: YAML 1.2 core schema floats: a dot or an exponent (an integer has neither), infinities and NaN
_FLOAT_CORE = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
                         r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$")
#: YAML 1.2 core schema integers: decimal (leading zeros allowed, still decimal), 0o octal, 0x hex
_INT_CORE = re.compile(r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
#: YAML 1.2 core schema booleans
_BOOL_CORE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_FLOAT_TAG = "tag:yaml.org,2002:float"
_INT_TAG = "tag:yaml.org,2002:int"
_BOOL_TAG = "tag:yaml.org,2002:bool"


def _own_resolvers(base: type) -> type:
    """A subclass of PyYAML's `base` loader or dumper with its own copy of the resolver table (PyYAML's
    classes are left as they are)."""
    cls = type(base.__name__ + "12", (base,), {})
    cls.yaml_implicit_resolvers = {k: list(v) for k, v in base.yaml_implicit_resolvers.items()}
    return cls


def _core_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """A YAML 1.2 integer: `010` is ten, `0o10` eight, `0x10` sixteen."""
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


class _Loader12(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML 1.1 kept the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            self._refuse_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _refuse_duplicate_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: refused later by the constructor
                continue
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (first at line "
                    f"{first.start_mark.line + 1}, again at line {key_node.start_mark.line + 1}); expected each key "
                    "once", key_node.start_mark)


def _core_loader() -> type:
    """`_Loader12` resolving numbers and booleans as YAML 1.2's core schema does."""
    cls = _own_resolvers(_Loader12)
    for first, pairs in cls.yaml_implicit_resolvers.items():
        cls.yaml_implicit_resolvers[first] = [(tag, rx) for tag, rx in pairs
                                              if tag not in (_FLOAT_TAG, _INT_TAG, _BOOL_TAG)]
    cls.add_implicit_resolver(_BOOL_TAG, _BOOL_CORE, list("tTfF"))
    cls.add_implicit_resolver(_INT_TAG, _INT_CORE, list("-+0123456789"))
    cls.add_implicit_resolver(_FLOAT_TAG, _FLOAT_CORE, list("-+0123456789."))
    cls.add_constructor(_INT_TAG, _core_int)
    return cls


def _quoting_dumper() -> type:
    """SafeDumper that quotes a string YAML 1.1 or YAML 1.2 would read as a number or boolean."""
    cls = _own_resolvers(yaml.SafeDumper)
    cls.add_implicit_resolver(_FLOAT_TAG, _FLOAT_12, list("-+0123456789."))
    cls.add_implicit_resolver(_INT_TAG, _INT_CORE, list("-+0123456789"))
    return cls


Loader = _core_loader()
Dumper = _quoting_dumper()


def number_text(text: str) -> int | float | None:
    """The number a text reads as in YAML 1.2 (`"1e-3"`, `"4"`, `"0x10"`, `".inf"`; spaces around it
    ignored), exactly: a whole number as an int, never through a float (`"9007199254740993"` stays that);
    None for text YAML 1.2 does not read as a number (`"1_000"`, `"four"`)."""
    t = text.strip()
    if _INT_CORE.match(t) or _FLOAT_CORE.match(t):
        return yaml.load(t, Loader=Loader)  # noqa: S506 - a SafeLoader with YAML 1.2 scalars
    return None


def safe_dump(data: Any, **kwargs: Any) -> str:
    """`yaml.safe_dump` whose output `safe_load` reads back unchanged (strings such as '1e-2' quoted)."""
    return yaml.dump(data, Dumper=Dumper, **kwargs)

from egvsr.errors import ConfigError, InputFileError


def yaml_problem(exc: BaseException) -> str:
    """`line L, column C: <problem>` for a `yaml.YAMLError`, on one line (PyYAML's own spans several)."""
    if isinstance(exc, yaml.reader.ReaderError):  # undecodable bytes or a control character
        return f"byte {exc.position}: {exc.reason}; expected UTF-8 (or UTF-16 with a byte-order mark) text"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())


#: the most values (mappings, lists, keys and scalars, a shared one counted each time it appears) a config
#: may expand to: configs hold about a hundred; a list of many recordings fits easily
MAX_CONFIG_VALUES = 1_000_000
#: the largest YAML file read (checked before it is read): 1,000,000 values of recording paths, with room
MAX_CONFIG_BYTES = 64 * 2**20


def check_expanded_size(data: Any, limit: int = MAX_CONFIG_VALUES) -> None:
    """Raise ValueError when nested dicts/lists `data` expand to more than `limit` values or contain
    themselves. Shared values (YAML aliases, a loaded checkpoint's shared references) are sized once and
    counted each time they appear, so the check costs the distinct values, not the expansion."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, (dict, list, tuple)):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ValueError("holds a value that contains itself (a YAML alias inside its own anchor); expected a "
                             "plain config")
        open_.add(key)
        total = 1 + (len(value) if isinstance(value, dict) else 0)
        for child in (value.values() if isinstance(value, dict) else value):
            total += size(child)
            if total > limit:
                raise ValueError(f"expands to more than {limit} values (a YAML alias or shared value counts each "
                                 "time it appears); expected a plain config")
        open_.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError:
        raise ValueError("is nested too deeply to read; expected a plain config") from None


def safe_load(text: str | bytes) -> Any:
    """`yaml.safe_load` with YAML 1.2 numbers and booleans and no duplicate keys, raising ValueError instead of RecursionError on absurdly nested input, and on
    input that expands to more than `MAX_CONFIG_VALUES` values or contains itself (aliases)."""
    try:
        data = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader with YAML 1.2 scalars
    except RecursionError:
        raise ValueError("YAML nested too deeply to read; expected a plain config") from None
    try:
        check_expanded_size(data)
    except ValueError as exc:
        raise ValueError(f"the YAML {exc}") from None
    return data


def read_yaml_mapping(path: str | Path, what: str, expected: str = "a mapping at the top level") -> dict:
    """The mapping in YAML file `path` (empty file: {}); clear errors naming the file otherwise."""
    from egvsr.events.io.arguments import check_not_special

    p = Path(path)
    if p.is_dir():
        raise InputFileError(f"{p}: is a folder; expected the {what} (a YAML file)")
    check_not_special(p, f"the {what} (a YAML file)")  # a FIFO is not read: it would wait for a writer
    if not p.is_file():
        raise InputFileError(f"{p}: {what} not found")
    size = p.stat().st_size
    if size > MAX_CONFIG_BYTES:  # before it is read: a recording or checkpoint given by mistake is gigabytes
        raise ConfigError(f"{p}: is {size:,} bytes; expected the {what}, a YAML text of at most "
                          f"{MAX_CONFIG_BYTES:,} bytes (a recording or checkpoint given in its place?)")
    try:
        data = safe_load(p.read_bytes())  # bytes: PyYAML detects UTF-8/UTF-16 by the byte-order mark
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({yaml_problem(exc)})") from None
    except ValueError as exc:  # nested too deeply (below)
        raise ConfigError(f"{p}: {exc}") from None
    if data is None:  # an empty file (or only comments, or `null`): nothing set
        return {}
    if not isinstance(data, dict):  # `[]`, `false`, `0` or `""` too: not an empty config
        raise ConfigError(f"{p}: expected {expected}, got {type(data).__name__}")
    return data
