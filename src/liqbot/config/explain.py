"""Turn one pydantic error into (field path, plain-English message with what would be valid)."""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from liqbot.config.models import LiqbotConfig, dotted
from liqbot.config.secrets import find_secret_in_value, redact_url

__all__ = ["describe_error", "dotted"]


def _members(tp: Any) -> list[Any]:
    """The concrete types behind Annotated / Optional / unions."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _members(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(tp) if arg is not type(None) for m in _members(arg)]
    return [tp]


def _models(members: list[Any]) -> list[type[BaseModel]]:
    return [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    source = model.model_fields.get("source")
    return get_args(source.annotation) if source and get_origin(source.annotation) is Literal else ()


def _field(model: type[BaseModel], key: object) -> tuple[str, FieldInfo] | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name, info
    return None


def _locate(loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that owns the last named part of `loc`, and that field's info (None if unknown)."""
    current: Any = LiqbotConfig
    owner: type[BaseModel] | None = None
    info: FieldInfo | None = None
    for part in loc:
        members = _members(current)
        if isinstance(part, int):
            seqs = [m for m in members if get_origin(m) is tuple]
            if not seqs:
                return owner, info
            current = get_args(seqs[0])[0]
            continue
        models = _models(members)
        tagged = [m for m in models if part in _tags(m)]
        if tagged:  # a discriminated union puts the tag into the loc
            current = tagged[0]
            continue
        if len(models) != 1:
            return owner, info
        found = _field(models[0], part)
        if found is None:
            return models[0], None
        owner, info = models[0], found[1]
        current = info.annotation
    return owner, info


def _clean(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop union tags from the loc by walking the data; what is left is a path into the YAML."""
    path: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part not in node and node.get("source") == part:
                continue
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        path.append(part)
    return tuple(path)


def _show(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if isinstance(value, int) and not isinstance(value, bool) and value > 2**64:
        return hex(value)
    text = str(value) if isinstance(value, str) else repr(value)
    if find_secret_in_value(text):
        return "(hidden)"
    if "://" in text:
        text = redact_url(text)
    return repr(text[:60] + "..." if len(text) > 60 else text) if isinstance(value, str) else text


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _unknown_field(key: Any, owner: type[BaseModel] | None) -> str:
    if owner is None:
        return f"unknown field {key!r}"
    names = _field_names(owner)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown field {key!r}{hint} Valid fields: {', '.join(names)}"


def _expected_mapping(info: FieldInfo | None) -> str:
    models = _models(_members(info.annotation)) if info else []
    if len(models) == 1:
        return f"expected a mapping with fields: {', '.join(_field_names(models[0]))}"
    return "expected a mapping of fields"


_FIXED = {
    "missing": "is required",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "must be a finite number",
    "decimal_parsing": 'expected a decimal number; write money quoted, e.g. "5.5"',
    "decimal_type": 'expected a decimal number; write money quoted, e.g. "5.5"',
    "string_type": "expected text",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "invalid_key": "keys must be text",
    "string_too_short": "must not be empty",
    "union_tag_not_found": "needs `source: env` or `source: keystore`",
}
_ECHO = frozenset(
    {
        "literal_error",
        "union_tag_invalid",
        "int_parsing",
        "bool_parsing",
        "float_parsing",
        "decimal_parsing",
        "string_pattern_mismatch",
        "value_error",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "int_from_float",
    }
)
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _base_message(err: ErrorDetails, owner: type[BaseModel] | None, info: FieldInfo | None) -> str:
    kind = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    if kind in _FIXED:
        return _FIXED[kind]
    if kind == "extra_forbidden":
        return _unknown_field(err["loc"][-1] if err["loc"] else "?", owner)
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')}"
    if kind == "union_tag_invalid":
        return f"source must be one of {ctx.get('expected_tags', '?')}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return _expected_mapping(info)
    if kind in _BOUNDS:
        key, sign = _BOUNDS[kind]
        return f"must be {sign} {ctx.get(key, '?')}"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return "needs at least one entry" if count == 1 else f"needs at least {count} entries"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length', '?')} characters"
    if kind == "string_pattern_mismatch":
        if err["loc"] and err["loc"][-1] == "name":
            return "use only lowercase letters, digits and '-'"
        return f"must match the pattern {ctx.get('pattern', '?')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def describe_error(
    err: ErrorDetails, data: Any, from_env_var: Mapping[tuple[Any, ...], str]
) -> tuple[tuple[Any, ...], str]:
    """Return the YAML path of a pydantic error and a message saying what would be valid."""
    loc = tuple(err["loc"])
    path = _clean(loc, data)
    owner, info = _locate(loc)
    message = _base_message(err, owner, info)
    examples = info.examples if info is not None and err["type"] != "extra_forbidden" else None
    if examples and "e.g." not in message:
        message += f", e.g. {examples[0]}"
    if err["type"] in _ECHO:
        var = from_env_var.get(path)
        shown = ctx_tag if (ctx_tag := (err.get("ctx") or {}).get("tag")) is not None else err.get("input")
        got = f"the value of ${{{var}}}" if var else _show(shown)
        message += f" (got {got})"
    if err["type"] == "union_tag_invalid":
        path = (*path, "source")
    return path, message
