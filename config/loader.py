"""Build :class:`Settings` from CDK context: a profile, ``-c`` overrides, and
every problem reported at once.

A profile in ``cdk.json`` (``context.profiles.<name>``) gives the settings;
``-c profile=NAME`` chooses one and ``-c section.key=value`` overrides a
single setting for one run (a string from the command line is read as the
setting's type: numbers, ``true``/``false``, ``none``, comma lists, JSON).
When validation fails, the rules are run again over what did validate, so
that a problem of one field does not hide a broken rule elsewhere.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from config.base import RULES_ERROR, SETTING_ERROR, UNUSABLE, Allowed, Problem, SettingsError, SettingsModel, check_rules
from config.settings import Settings

DEFAULT_PROFILE = "reference"
PROFILE_KEY = "profile"
PROFILES_KEY = "profiles"
# Set by the loader from the profile's name, not by the profile.
LOADER_FIELDS = ("profile",)


def cli_context(environ: Mapping[str, str]) -> dict[str, Any]:
    """The context the CDK CLI hands an app run as ``cdk.json``'s ``app`` command, read as ``cdk.App()``
    reads it: the JSON in ``CDK_CONTEXT_JSON``, then the file ``CONTEXT_OVERFLOW_LOCATION_ENV`` names
    (the CLI's choice when the context is too long for the environment), whose keys win."""
    context: dict[str, Any] = json.loads(environ.get("CDK_CONTEXT_JSON") or "{}")
    overflow = environ.get("CONTEXT_OVERFLOW_LOCATION_ENV")
    if overflow:
        with open(overflow) as file:
            context.update(json.load(file))
    return context


def is_cdk_context_key(key: str) -> bool:
    """Keys that belong to the CDK itself (feature flags, CLI options, lookups)."""
    return key.startswith("@") or ":" in key


def load_settings(context: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Build and validate :class:`Settings` from the app's context.

    ``context`` is the whole CDK context (cdk.json plus ``-c`` values);
    ``environ`` may give ``CDK_DEFAULT_ACCOUNT``, which replaces the
    placeholder account so the same app deploys for real. Raises
    :class:`SettingsError` with every problem found.
    """
    profiles = context.get(PROFILES_KEY)
    if not isinstance(profiles, Mapping) or not profiles:
        raise SettingsError(PROFILES_KEY, profiles, "cdk.json must define context.profiles as an object of profiles")
    name = context.get(PROFILE_KEY, DEFAULT_PROFILE)
    if name not in profiles:
        raise SettingsError(PROFILE_KEY, name, f"one of {', '.join(sorted(profiles))}")
    if not isinstance(profiles[name], Mapping):
        raise SettingsError(f"{PROFILES_KEY}.{name}", profiles[name], "an object of settings")

    raw = copy.deepcopy(dict(profiles[name]))
    problems: list[Problem] = []
    for key, value in context.items():
        if key in (PROFILE_KEY, PROFILES_KEY) or is_cdk_context_key(key):
            continue
        try:
            _set_path(raw, Settings, key.split("."), value, key)
        except _Refused as refused:
            problems.append(refused.problem)

    env_account = (environ or {}).get("CDK_DEFAULT_ACCOUNT")
    if env_account:
        raw["account"] = env_account
    raw["profile"] = name
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        problems += problems_of(err, raw)
    else:
        if not problems:
            return settings
    raise SettingsError.of(list({str(p): p for p in problems}.values()))


# --------------------------------------------------------------------------
# -c overrides
# --------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.problem = Problem(key, value, allowed)


def _fields(model: type[BaseModel]) -> list[str]:
    return [n for n in model.model_fields if not (model is Settings and n in LOADER_FIELDS)]


def unknown_key(prefix: str, name: str, known: list[str]) -> str:
    """What an unknown key allows: the nearest known key and all of them."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {prefix}{close[0]}? " if close else ""
    return f"unknown setting; {hint}known keys here: {', '.join(prefix + k for k in sorted(known))}"


def _set_path(target: dict[str, Any], model: type[BaseModel], parts: list[str], value: Any, key: str) -> None:
    """Set ``a.b.c`` in the profile dict; the path must name a real setting."""
    head, rest = parts[0], parts[1:]
    done = key[: len(key) - len(".".join(parts))]
    known = _fields(model)
    if head not in known:
        raise _Refused(key, value, unknown_key(done, head, known))
    annotation = model.model_fields[head].annotation
    inner, _ = _unwrap(annotation)
    if not rest:
        target[head] = _from_cli(value, annotation, key)
        return
    item = _tuple_item(inner)
    if item is not None:
        # data.mirror_sets.0.instance_type: an index into a list (of sections)
        items = target.get(head)
        if isinstance(items, tuple):
            items = target[head] = list(items)
        if not isinstance(items, list):
            raise _Refused(key, value, f"{head} is not a list in this profile")
        if not rest[0].isdigit() or int(rest[0]) >= len(items):
            raise _Refused(key, value, f"{head} takes an index from 0 to {len(items) - 1}")
        i = int(rest[0])
        if len(rest) == 1:
            items[i] = _from_cli(value, item, key)
        elif isinstance(items[i], dict) and _is_model(_unwrap(item)[0]):
            _set_path(items[i], _unwrap(item)[0], rest[1:], value, key)
        else:
            raise _Refused(key, value, f"{done}{head}.{i} is not an object in this profile")
        return
    if typing.get_origin(inner) in (Mapping, dict):
        # data.ami_ids.eu-west-1=ami-...: one entry of a map
        entries = target.get(head)
        if not isinstance(entries, dict):
            entries = target[head] = dict(entries) if isinstance(entries, Mapping) else {}
        entries[".".join(rest)] = _from_cli(value, typing.get_args(inner)[1], key)
        return
    if not _is_model(inner):
        raise _Refused(key, value, f"{head} is a single setting and has no sub-keys")
    section = target.get(head)
    if not isinstance(section, dict):
        section = target[head] = {}
    _set_path(section, inner, rest, value, key)


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """``annotation`` without ``| None`` and ``Annotated``, and the metadata it carried."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata += extra
        elif origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation, metadata


def _optional(annotation: Any) -> bool:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tuple_item(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else None


def _from_cli(value: Any, annotation: Any, key: str) -> Any:
    """A ``-c`` string read as the setting's type; other values as they are."""
    if not isinstance(value, str):
        return value
    if _optional(annotation) and value.strip().lower() in ("", "none", "null"):
        return None
    tp, _ = _unwrap(annotation)
    item = _tuple_item(tp)
    if _is_model(tp) or typing.get_origin(tp) in (Mapping, dict):
        return _json(value, key, "an object in JSON")
    if item is not None:
        if _is_model(_unwrap(item)[0]) or value.lstrip().startswith("["):
            return _json(value, key, "a JSON list")
        return [_from_cli(v.strip(), item, key) for v in value.split(",") if v.strip()]
    text = value.strip()
    if tp is int and re.fullmatch(r"-?\d+", text):
        return int(text)
    if tp is float and re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    if tp is bool and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def _json(text: str, key: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise _Refused(key, text, what) from None


# --------------------------------------------------------------------------
# Pydantic's errors as problems
# --------------------------------------------------------------------------

_TYPE_PHRASES = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "tuple": "a list",
    "list": "a list",
    "iterable": "a list",
    "dict": "an object",
    "mapping": "an object",
    "model": "an object of settings",
    "model_attributes": "an object of settings",
}
_LIMITS = {
    "greater_than_equal": "at least {ge}",
    "greater_than": "more than {gt}",
    "less_than_equal": "at most {le}",
    "less_than": "less than {lt}",
    "multiple_of": "a multiple of {multiple_of}",
    "too_short": "at least {min_length} entries",
    "too_long": "at most {max_length} entries",
}


def problems_of(err: ValidationError, raw: Mapping[str, Any]) -> list[Problem]:
    """Every problem in ``err`` as a one-line :class:`Problem`, then every broken
    rule over the settings that did validate."""
    errors = err.errors(include_url=False)
    found: list[Problem] = []
    for e in errors:
        if e["type"] == RULES_ERROR:
            continue
        loc = tuple(part for part in e["loc"] if part != "[key]")
        key = ".".join(str(part) for part in loc) or "profile"
        value = e.get("input")
        if e["type"] == SETTING_ERROR:
            allowed = e["ctx"]["allowed"]
        elif e["type"] == "missing":
            value, allowed = None, "this setting is required"
        elif e["type"] == "extra_forbidden":
            prefix = "".join(f"{part}." for part in loc[:-1])
            allowed = unknown_key(prefix, str(loc[-1]), _fields(_model_at(loc[:-1]) or Settings))
        else:
            allowed = _allowed(e["type"], e.get("ctx") or {}, _allowed_at(loc))
        found.append(Problem(key, value, allowed))
    # A typo's line suggests the key it missed: the missing key needs no line of its own.
    suggested = {m.group(1) for p in found if (m := re.search(r"did you mean (\S+)\? ", p.allowed))}
    found = [p for p in found if not (p.allowed == "this setting is required" and p.key in suggested)]
    _, broken = _partial(Settings, raw, (), {tuple(e["loc"]) for e in errors})
    return found + broken


def _allowed(error_type: str, ctx: Mapping[str, Any], allowed: str | None) -> str:
    kind = error_type.rsplit("_", 1)[0] if error_type.endswith(("_type", "_parsing", "_from_float")) else None
    if error_type == "int_from_float":
        kind = "int"
    if kind in _TYPE_PHRASES:
        phrase = _TYPE_PHRASES[kind]
        return f"{phrase}: {allowed}" if allowed else phrase
    if allowed:
        return allowed
    if error_type in _LIMITS:
        return _LIMITS[error_type].format(**ctx)
    if error_type == "literal_error":
        return f"one of {ctx.get('expected')}"
    return "a value of the kind docs/settings.md describes"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    tp: Any = Settings
    for part in loc:
        tp, _ = _unwrap(tp)
        if _is_model(tp) and isinstance(part, str) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        elif _tuple_item(tp) is not None:
            tp = _tuple_item(tp)
        else:
            return None
    tp, _ = _unwrap(tp)
    return tp if _is_model(tp) else None


def _allowed_at(loc: tuple[Any, ...]) -> str | None:
    """The :class:`Allowed` words of the setting at ``loc``, if it has any."""
    tp: Any = Settings
    metadata: list[Any] = []
    for part in loc:
        tp, _ = _unwrap(tp)
        if _is_model(tp) and isinstance(part, str) and part in tp.model_fields:
            field = tp.model_fields[part]
            tp, metadata = field.annotation, list(field.metadata)
        elif _tuple_item(tp) is not None:
            tp, metadata = _tuple_item(tp), []
        elif typing.get_origin(tp) in (Mapping, dict):
            tp, metadata = typing.get_args(tp)[1], []
        else:
            return None
        tp, extra = _unwrap(tp)
        metadata += extra
    texts = [m.text for m in metadata if isinstance(m, Allowed)]
    return texts[-1] if texts else None


# --------------------------------------------------------------------------
# The rules over a partly valid profile
# --------------------------------------------------------------------------


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation  # type: ignore[valid-type]
    return TypeAdapter(annotation)


@functools.cache
def _model_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def _partial(
    model: type[BaseModel], raw: Any, loc: tuple[Any, ...], error_locs: set[tuple[Any, ...]]
) -> tuple[Any, list[Problem]]:
    """``model`` built from ``raw`` with every invalid setting unusable, and the
    problems its rules (and its sections' rules) find, keys relative to it."""
    if not isinstance(raw, Mapping):
        return UNUSABLE, []
    values: dict[str, Any] = {}
    found: list[Problem] = []
    for name, field in model.model_fields.items():
        here = (*loc, name)
        if name not in raw:
            values[name] = UNUSABLE if field.is_required() else field.get_default(call_default_factory=True)
            continue
        value = raw[name]
        if not any(where[: len(here)] == here for where in error_locs):
            values[name] = _validated(_field_adapter(model, name), value)
            continue
        tp, _ = _unwrap(field.annotation)
        item = _tuple_item(tp)
        item_model = _unwrap(item)[0] if item is not None else None
        if _is_model(tp) and isinstance(value, Mapping):
            values[name], inner = _partial(tp, value, here, error_locs)
            found += [p.under(name) for p in inner]
        elif item_model is not None and _is_model(item_model) and isinstance(value, list | tuple):
            items = []
            for i, entry in enumerate(value):
                if any(where[: len(here) + 1] == (*here, i) for where in error_locs):
                    built, inner = _partial(item_model, entry, (*here, i), error_locs)
                    found += [p.under(f"{name}.{i}") for p in inner]
                else:
                    built = _validated(_model_adapter(item_model), entry)
                items.append(built)
            values[name] = tuple(items)
        else:
            values[name] = UNUSABLE
    built = model.model_construct(**values)
    if isinstance(built, SettingsModel):
        found += check_rules(built, mark=True)
    return built, found


def _validated(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return UNUSABLE
