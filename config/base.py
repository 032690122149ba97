"""What every settings model shares: frozen, unknown keys forbidden, one-line
problems, and cross-field rules that report every problem they find.

A field's own limits live in its annotation (``Field(ge=..., le=...)``, a
pattern, or a check from :mod:`config.types`); a rule that relates several
fields is a method marked :func:`rule` that yields :class:`Problem` values.
Pydantic runs the rules as the model's ``after`` validator; the loader runs
them again over a partly valid profile, so that every problem is reported in
one run (``config/loader.py``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FunctionType
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

# The error type of a single field's own check, and of a model's failed rules.
SETTING_ERROR = "setting"
RULES_ERROR = "settings_rules"


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def show(value: object) -> str:
    """A value as a person typed it: strings quoted, everything else as JSON."""
    value = _plain(value)
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Problem:
    """One setting that cannot be used: its dotted key, the value given and what is allowed."""

    key: str
    value: object
    allowed: str

    def __str__(self) -> str:
        return f"invalid setting {self.key}={show(self.value)}: {self.allowed}"

    def under(self, prefix: str) -> Problem:
        return Problem(f"{prefix}.{self.key}" if prefix else self.key, self.value, self.allowed)


class SettingsError(ValueError):
    """Settings that cannot be used: one line per problem, every problem at once.

    ``key``, ``value`` and ``allowed`` are those of the first problem;
    ``problems`` holds them all and ``str()`` is their lines joined by newlines.
    """

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self._set([Problem(key, value, allowed)])

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> SettingsError:
        if not problems:
            raise ValueError("a SettingsError needs at least one problem")
        err = cls.__new__(cls)
        err._set(list(problems))
        return err

    def _set(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        self.key = problems[0].key
        self.value = problems[0].value
        self.allowed = problems[0].allowed
        ValueError.__init__(self, "\n".join(self.lines))

    @property
    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    def report(self) -> int:
        """Print every problem on stderr, one ``error:`` line each, as a command-line entry point does, and
        return 2, the exit code of bad settings."""
        for line in self.lines:
            print(f"error: {line}", file=sys.stderr)
        return 2


class Allowed:
    """Annotation metadata: what a field allows, in the words an error message uses."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Allowed({self.text!r})"


def refuse(allowed: str) -> PydanticCustomError:
    """The error a field's own check raises: the message is what the field allows."""
    return PydanticCustomError(SETTING_ERROR, "{allowed}", {"allowed": allowed})


class SkipRule(Exception):
    """Raised when a rule reads a setting that failed its own checks."""


class _Unusable:
    """Stands in for a setting that failed validation while the loader runs the
    rules over a partly valid profile: a rule that reads it in any way (compares,
    formats, iterates, takes an attribute) is skipped, because its own problem is
    already reported."""

    __slots__ = ()

    def _skip(self, *args: object, **kwargs: object) -> Any:
        raise SkipRule

    __getattr__ = _skip
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _skip  # type: ignore[assignment]
    __hash__ = __bool__ = __len__ = __iter__ = __contains__ = __getitem__ = _skip  # type: ignore[assignment]
    __str__ = __format__ = __int__ = __float__ = __index__ = _skip  # type: ignore[assignment]
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __mod__ = _skip
    __truediv__ = __floordiv__ = __rtruediv__ = __rfloordiv__ = _skip

    def __repr__(self) -> str:
        return "<invalid setting>"


UNUSABLE: Any = _Unusable()

RuleMethod = Callable[[Any], Iterator[Problem]]


def rule(method: RuleMethod) -> RuleMethod:
    """Mark a method as a cross-field rule: it yields a :class:`Problem` per broken
    rule, keys relative to its model."""
    method.__settings_rule__ = True  # type: ignore[attr-defined]
    return method


def check_rules(model: SettingsModel, *, mark: bool = False) -> list[Problem]:
    """Every problem the rules of ``model`` find. A rule that reads an unusable
    setting is skipped; with ``mark``, a setting a rule refused becomes unusable
    for the rules after it, so one bad value is reported once."""
    found: list[Problem] = []
    for name in type(model).__rules__:
        try:
            for problem in getattr(model, name)():
                found.append(problem)
                if mark:
                    mark_unusable(model, problem.key.split("."))
        except SkipRule:
            continue
        except TypeError:
            # Over a partly valid profile (``mark``), a library call that takes the
            # stand-in for a bad value (re, ipaddress) refuses it with a TypeError.
            if not mark:
                raise
    return found


def mark_unusable(obj: Any, parts: list[str]) -> Any:
    """``obj`` with the setting at ``parts`` replaced by :data:`UNUSABLE`."""
    if not parts:
        return UNUSABLE
    head, rest = parts[0], parts[1:]
    if isinstance(obj, BaseModel) and head in type(obj).model_fields:
        object.__setattr__(obj, head, mark_unusable(getattr(obj, head), rest))
    elif isinstance(obj, tuple) and head.isdigit() and int(head) < len(obj):
        i = int(head)
        return (*obj[:i], mark_unusable(obj[i], rest), *obj[i + 1 :])
    elif isinstance(obj, Mapping) and head in obj:
        return {**obj, head: mark_unusable(obj[head], rest)}
    return obj


class SettingsModel(BaseModel):
    """A frozen settings model that forbids unknown keys and checks its rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    __rules__: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # In definition order: a rule may rely on an earlier one having refused a value.
        names = [
            name
            for klass in reversed(cls.__mro__)
            for name, value in list(vars(klass).items())
            if isinstance(value, FunctionType) and getattr(value, "__settings_rule__", False)
        ]
        cls.__rules__ = tuple(dict.fromkeys(names))

    def __setattr__(self, name: str, value: object) -> None:
        # As a frozen dataclass does: assigning to settings is a programming error.
        raise AttributeError(f"{type(self).__name__}.{name}: settings are frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__}.{name}: settings are frozen")

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        problems = check_rules(self)
        if problems:
            raise PydanticCustomError(
                RULES_ERROR, "{allowed}", {"allowed": "; ".join(str(p) for p in problems), "problems": problems}
            )
        return self
