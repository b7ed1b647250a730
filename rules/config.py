"""Typed policy files: one strict base model and one loader for every YAML file under ``rules/``.

Why: each policy file (quota, review, reasons, header aliases, character and code tables, matching,
synthetic noise) is data the operator may edit, so a typo must fail at once, naming the file and the
key, instead of falling back silently to a default. Every file is described by a frozen pydantic
model derived from :class:`StrictModel` (unknown keys refused, values immutable), each field with
its one default in the model; :func:`load_config` reads a file into such a model and turns every
problem into one :class:`ConfigError` line::

    rules/quota/quota.yaml: ageing.per_day: must be >= 0 (got -1)
    rules/review/review.yaml: level_classes.agre: unknown key; allowed: agree, close, disagree, weak

The key path is dotted, list items are numbered from 0 (``levels.2.share``). Messages never quote
more than a short value, and policy files hold no personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, RootModel, ValidationError

from rules.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent

M = TypeVar("M", bound=BaseModel)


class ConfigError(UserError, ValueError):
    """A policy file cannot be used: one line naming the file, the key path and what to write.

    Also a ``ValueError`` so that callers written before this class keep catching it.
    """


class StrictModel(BaseModel):
    """Base of every policy model: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def display_path(path: str | Path) -> str:
    """``path`` as the user should read it: relative to the repository for shipped files."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(REPO_ROOT)) if p.is_absolute() else str(p)
    except ValueError:
        return str(p)


def read_yaml(path: str | Path, *, error: type[ConfigError] = ConfigError) -> Any:
    """Parse a YAML file; a missing file, bad syntax or non-UTF-8 text raise ``error`` (one line)."""
    p = Path(path)
    shown = display_path(p)
    if not p.is_file():
        raise error(f"{shown}: file not found; pass an existing policy file")
    try:  # libyaml when present: 15x faster on the matching config
        return yaml.load(p.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise error(f"{shown}: malformed YAML{where}; fix the indentation/quoting there") from None
    except UnicodeDecodeError:
        raise error(f"{shown}: not UTF-8 text; save the file as UTF-8") from None


def load_config(path: str | Path, model: type[M], *, error: type[ConfigError] = ConfigError,
                prepare: Callable[[Any], Any] | None = None) -> M:
    """Read ``path`` into ``model``; every problem is one ``error`` naming the file and key path.

    ``prepare`` rewrites the parsed data first (a shorthand key expanded), before validation.
    """
    data = read_yaml(path, error=error)
    if prepare is not None:
        data = prepare(data)
    return validate_config(data, model, source=display_path(path), error=error)


def validate_config(data: Any, model: type[M], *, source: str, error: type[ConfigError] = ConfigError) -> M:
    """Validate parsed data (a mapping) against ``model``; ``source`` names it in the message."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping) and not issubclass(model, RootModel):
        raise error(f"{source}: expected a YAML mapping of keys at the top of the file")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: {describe(exc, model)}") from None


def describe(exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """The first error of ``exc`` as ``key.path: what is wrong`` (and how many more there are)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [str(x) for x in first["loc"] if x != "root"]
    if loc and loc[-1] == "[key]":  # a mapping key of the wrong kind: the key itself is the problem
        loc = loc[:-1]
    text = _message(first, model, tuple(first["loc"]))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return (f"{'.'.join(loc)}: {text}" if loc else text) + more


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _message(err: dict[str, Any], model: type[BaseModel] | None, loc: tuple) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1]) if model is not None else []
        return "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "missing; this key is required"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number (got {_short(got)})"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number (got {_short(got)})"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false (got {_short(got)})"
    if kind in ("string_type", "string_unicode"):
        return f"expected text (got {_short(got)})"
    if kind in ("list_type", "tuple_type", "set_type", "frozen_set_type"):
        return f"expected a list (got {_short(got)})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys (got {_short(got)})"
    if kind == "literal_error":
        if loc and loc[-1] == "[key]":
            return f"unknown key {_short(got)}; allowed: {ctx.get('expected', '')}"
        return f"expected one of {ctx.get('expected', '')} (got {_short(got)})"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()), "")
        return f"must be {op} {bound} (got {_short(got)})"
    if kind in ("too_short", "too_long"):
        return f"expected {ctx.get('min_length', ctx.get('max_length', ''))} items (got {_short(got)})"
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return str(err["msg"])


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a model accepts at ``loc`` (best effort: nested models followed through lists)."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int) or part == "root":
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _model_in(fields[part].annotation, typing)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return sorted(f.alias or name for name, f in fields.items()) if fields else []


def _model_in(annotation: Any, typing: Any) -> Any:
    """The pydantic model inside an annotation (``X``, ``X | None``, ``list[X]``, ``tuple[X, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg, typing)
        if found is not None:
            return found
    return None


def key_paths(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a parsed YAML document (mappings only; list items numbered)."""
    out: list[tuple[str, ...]] = []
    if isinstance(data, Mapping):
        for k, v in data.items():
            here = (*prefix, str(k))
            out.append(here)
            out += key_paths(v, here)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += key_paths(v, (*prefix, str(i)))
    return out
