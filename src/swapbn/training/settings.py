"""A training setting is one dataclass field whose metadata says everything else about it.

`setting(default, ...)` declares the field; from its `Setting` come the command line's flag and
help (commands/train.py), the type config.json records (`record_types`) and whether a recorded
run that differs in it is another run (`differences`). A new setting is one field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# What a setting says about a run, which decides when a recorded run is the run asked for.
WHAT = "what"  # what the run computes: runs that differ in it are different runs
WHERE = "where"  # where it was made (device, data files): a finished run made elsewhere is the
# same run, but its checkpoint continues only where it was made
HOW = "how"  # how fast a step runs, never what it computes beyond float rounding: never counts
LABEL = "label"  # how the run is filed for reports (tags): counts for callers that file runs
KINDS = (WHAT, WHERE, HOW, LABEL)

NUMBER = (int, float)  # a float setting recorded as 1 is still a number; a bool never is
FIELD_DEFAULT: Any = type("FieldDefault", (), {"__repr__": lambda self: "FIELD_DEFAULT"})()
KEY = "setting"  # the field metadata's key


@dataclass(frozen=True)
class Setting:
    """What the command line, the record and run comparisons need to know about one field."""

    kind: str = WHAT
    group: str | None = None  # help section of its flag (commands/train.py); None: no flag
    help: str = ""  # the flag's help; "{default}" stands for the default
    flags: tuple[str, ...] = ()  # option strings, the current spelling first (default --name)
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # the flag's text -> value (default: its type)
    # The default the help names when the command line's is not the field's own
    # (FIELD_DEFAULT): other settings or resolve() decide it.
    cli_default: Any = FIELD_DEFAULT
    consts: tuple[tuple[str, Any], ...] = ()  # more flags, each setting one value (--amp)
    recipe: bool = False  # None until resolve() fills it, so never None in a record

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"setting kind {self.kind!r} is not one of {', '.join(KINDS)}")


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING,
            **meta: Any) -> Any:
    """A dataclass field with its `Setting` (keyword arguments) as metadata."""
    return dataclasses.field(default=default, default_factory=factory,
                             metadata={KEY: Setting(**meta)})


def field_default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _allowed(hint: Any) -> tuple[type, ...]:
    """The JSON types a value of type `hint` is recorded as: `float | None` -> int, float,
    NoneType; `dict[str, float]` -> dict."""
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union,
                                                                   types.UnionType) else (hint,)
    out: list[type] = []
    for member in members:
        origin = typing.get_origin(member) or member
        out.extend(NUMBER if origin is float else (origin,))
    return tuple(dict.fromkeys(out))


class Settings:
    """What is derived from a dataclass whose fields are settings (TrainConfig)."""

    @classmethod
    def settings(cls) -> list[tuple[dataclasses.Field, Setting]]:
        """Every field with its Setting (a field declared without one is a plain WHAT)."""
        return [(f, f.metadata.get(KEY, Setting())) for f in dataclasses.fields(cls)]

    @classmethod
    def record_types(cls) -> dict[str, tuple[type, ...]]:
        """The JSON types config.json may hold for each field, from its annotation; a recipe
        setting is never None there (records are resolved)."""
        hints = typing.get_type_hints(cls)
        out = {}
        for f, s in cls.settings():
            allowed = _allowed(hints[f.name])
            out[f.name] = tuple(t for t in allowed if t is not type(None)) if s.recipe \
                else allowed
        return out

    @classmethod
    def differences(cls, recorded: Mapping, planned: Mapping, *, finished: bool,
                    labels: bool = True) -> list[str]:
        """The fields in which a recorded run (its config.json) is not the run
        `planned` asks for. How a step ran never counts; where the run was made counts only
        while it is unfinished (`finished=False`: its checkpoint would continue here); tags
        count with `labels` (sweeps file runs by them; a lone training call does not). Keys
        that are not fields (threads, versions) never count."""
        skip = {HOW} | ({WHERE} if finished else set()) | (set() if labels else {LABEL})
        return [f.name for f, s in cls.settings()
                if s.kind not in skip and recorded.get(f.name) != planned.get(f.name)]
