"""Load the YAML file, expand the environment, apply presets, validate, and explain every error.

Each error names the file, the line (from PyYAML's node marks), the field path such as
`chains[0].protocols.aave_v3.pool_addresses_provider`, and what would be valid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic_core import ErrorDetails

from liqbot.config import secrets
from liqbot.config.explain import describe_error, dotted
from liqbot.config.models import ConfigIssuesError, LiqbotConfig
from liqbot.config.presets import apply_preset
from liqbot.core.errors import ConfigError, SecretInConfigError

__all__ = ["ENV_OVERRIDES", "load_config"]

# Environment variables that replace one YAML value each (documented in docs/configuration.md).
ENV_OVERRIDES: Mapping[str, tuple[str, ...]] = {
    "LIQBOT_DATABASE_URL": ("database_url",),
    "LIQBOT_METRICS_HOST": ("metrics", "host"),
    "LIQBOT_METRICS_PORT": ("metrics", "port"),
    "LIQBOT_LOG_LEVEL": ("log", "level"),
    "LIQBOT_LOG_JSON": ("log", "json"),
    "LIQBOT_EXECUTION_MODE": ("execution", "mode"),
}

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_COMMENT = re.compile(r"(?:^|\s)#(.*)$")
_MAX_DEPTH = 64
_MAX_NODES = 200_000
# What PyYAML's constructors raise on a bad explicit tag such as `!!bool maybe`.
_CONSTRUCT_ERRORS = (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OverflowError)

Path_ = tuple[Any, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps unquoted 0x... as text: YAML 1.1 would read an address as an int,
    losing its checksum case and its leading zeros."""

    # PyYAML looks this table up per class; a copy keeps SafeLoader itself untouched.
    yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}  # noqa: RUF012


_Loader.yaml_implicit_resolvers["0"].insert(0, ("tag:yaml.org,2002:str", re.compile(r"^0x[0-9a-fA-F_]+$")))


@dataclass
class _Doc:
    """What we know about the document while loading: where each value came from."""

    label: str
    lines: dict[Path_, int] = field(default_factory=dict)
    scalars: dict[Path_, str] = field(default_factory=dict)  # raw text of each scalar value
    keys: dict[Path_, str] = field(default_factory=dict)  # raw text of each mapping key
    from_env_var: dict[Path_, str] = field(default_factory=dict)  # ${VAR} expanded here
    overridden_by: dict[Path_, str] = field(default_factory=dict)  # LIQBOT_* override

    def line_of(self, path: Path_) -> int:
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def where(self, path: Path_) -> str:
        for end in range(len(path), 0, -1):
            var = self.overridden_by.get(path[:end])
            if var is not None:
                return f"{self.label} ({var} from the environment), {dotted(path)}"
        return f"{self.label} line {self.line_of(path)}, {dotted(path)}"


def _read_text(path: Path, label: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {label}") from None
    except IsADirectoryError:
        raise ConfigError(f"{label} is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {label}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:  # e.g. a NUL byte in the path
        raise ConfigError(f"cannot read config file {label!r}: not a valid path") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{label} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None


def _yaml_problem(exc: yaml.YAMLError, label: str) -> ConfigError:
    # Never str(exc): PyYAML appends a snippet of the source line, which could hold a secret.
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "cannot parse"
    if mark is None:
        return ConfigError(f"{label}: YAML syntax error: {problem}")
    return ConfigError(
        f"{label} line {mark.line + 1}, column {mark.column + 1}: YAML syntax error: {problem}"
    )


def _compose(text: str, label: str) -> tuple[yaml.SafeLoader, yaml.MappingNode]:
    try:
        loader = _Loader(text)  # the reader already rejects unprintable characters here
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, label) from None
    except RecursionError:
        raise ConfigError(f"{label}: the YAML is nested too deeply") from None
    if node is None:
        raise ConfigError(f"{label} is empty; it needs at least a `chains:` list (see docs/configuration.md)")
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise ConfigError(
            f"{label} line {node.start_mark.line + 1}: the top level must be a mapping of settings "
            f"such as `chains:` and `execution:`, not {kind}"
        )
    return loader, node


def _key_of(node: yaml.Node, doc: _Doc, keys: yaml.constructor.SafeConstructor) -> Any:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{doc.label} line {line}: a key must be plain text, not a list or mapping")
    try:
        key = keys.construct_object(node)
        hash(key)
    except _CONSTRUCT_ERRORS:
        raise ConfigError(f"{doc.label} line {line}: cannot read this key") from None
    return key


def _walk(root: yaml.MappingNode, doc: _Doc) -> list[tuple[int, str]]:
    """Record the line of every value and the raw text of every scalar; return duplicate-key errors."""
    keys = yaml.constructor.SafeConstructor()
    errors: list[tuple[int, str]] = []
    stack: list[tuple[yaml.Node, Path_, int, bool]] = [(root, (), 0, True)]
    visited = 0
    while stack:
        node, path, depth, check_dups = stack.pop()
        visited += 1
        if depth > _MAX_DEPTH or visited > _MAX_NODES:
            raise ConfigError(
                f"{doc.label} line {node.start_mark.line + 1}: the YAML is nested too deeply "
                "or uses a recursive alias"
            )
        if isinstance(node, yaml.ScalarNode):
            doc.scalars[path] = node.value
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                doc.lines.setdefault((*path, index), item.start_mark.line + 1)
                stack.append((item, (*path, index), depth + 1, True))
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:  # `<<: *anchor` folds the anchor's keys in here
                    merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                    stack.extend((m, path, depth + 1, False) for m in merged)
                    continue
                key = _key_of(key_node, doc, keys)
                line = key_node.start_mark.line + 1
                if check_dups and key in seen:
                    where = f"{doc.label} line {line}, {dotted((*path, key))}"
                    errors.append(
                        (line, f"{where}: duplicate key (first written on line {seen[key]}); keep one")
                    )
                seen.setdefault(key, line)
                doc.lines[(*path, key)] = line
                doc.keys[(*path, key)] = key_node.value
                stack.append((value_node, (*path, key), depth + 1, True))
    return errors


def _comment_problems(source: str, doc: _Doc) -> list[tuple[int, str]]:
    """A key left in a comment is still a key on disk. Market ids that the file lists are fine."""
    markets = [
        v.lower().removeprefix("0x") for p, v in doc.scalars.items() if len(p) == 6 and p[4] == "markets"
    ]
    problems = []
    for number, line in enumerate(source.splitlines(), start=1):
        comment = _COMMENT.search(line)
        if comment is None or any(m and m in comment.group(1).lower() for m in markets):
            continue
        what = secrets.find_secret_in_value(comment.group(1))
        if what:
            problems.append(
                (number, f"{doc.label} line {number}, a comment: {what}. {secrets.WHERE_KEYS_GO}")
            )
    return problems


def _scan_secrets(source: str, doc: _Doc) -> None:
    found = [(path, secrets.classify_scalar(path, text, doc.scalars)) for path, text in doc.scalars.items()]
    found += [(path, secrets.classify_key(text)) for path, text in doc.keys.items()]
    problems = [(doc.line_of(path), f"{doc.where(path)}: {problem}") for path, problem in found if problem]
    problems += _comment_problems(source, doc)
    if problems:
        raise _report(doc, problems, SecretInConfigError, "secrets")


def _expand(
    value: Any, path: Path_, env: Mapping[str, str], doc: _Doc, missing: list[tuple[int, str]]
) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, (*path, k), env, doc, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*path, i), env, doc, missing) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        doc.from_env_var[path] = name
        if name not in env:
            missing.append(
                (
                    doc.line_of(path),
                    f"{doc.where(path)}: environment variable {name} is not set; export it "
                    f"(export {name}=...) or write the value here if it is not a secret",
                )
            )
            return ""
        return env[name]

    return _ENV_REF.sub(substitute, value)


def _apply_overrides(data: dict[Any, Any], env: Mapping[str, str], doc: _Doc) -> None:
    for var, path in ENV_OVERRIDES.items():
        value = env.get(var)
        if not value:
            continue
        parent: Any = data
        for part in path[:-1]:
            if not isinstance(parent, dict):
                break
            parent = parent.setdefault(part, {})
        if isinstance(parent, dict):
            parent[path[-1]] = value
            doc.overridden_by[path] = var


def _prepare(data: dict[Any, Any], config_dir: Path) -> None:
    chains = data.get("chains")
    if isinstance(chains, list):
        data["chains"] = [apply_preset(c) if isinstance(c, dict) else c for c in chains]
    execution = data.get("execution")
    signer = execution.get("signer") if isinstance(execution, dict) else None
    if isinstance(signer, dict) and signer.get("source") == "keystore":
        keystore = signer.get("path")
        if isinstance(keystore, str) and keystore and not Path(keystore).is_absolute():
            signer["path"] = str(config_dir / keystore)  # relative to the config file, not the cwd


def _report(
    doc: _Doc, problems: list[tuple[int, str]], kind: type[ConfigError] = ConfigError, what: str = "problems"
) -> ConfigError:
    lines = [text for _, text in sorted(problems, key=lambda p: p[0])]
    if len(lines) == 1:
        return kind(lines[0])
    return kind(f"{len(lines)} {what} in {doc.label}:\n" + "\n".join(f"  {x}" for x in lines))


def _has_item_errors(loc: tuple[Any, ...], errors: list[ErrorDetails]) -> bool:
    return any(len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == tuple(loc) for e in errors)


def _validate(data: dict[Any, Any], doc: _Doc) -> LiqbotConfig:
    try:
        return LiqbotConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False)
        for err in errors:
            if err["type"] == "too_short" and _has_item_errors(err["loc"], errors):
                continue  # pydantic counts only the valid items; the item errors say it all
            path, message = describe_error(err, data, doc.from_env_var)
            problems.append((doc.line_of(path), f"{doc.where(path)}: {message}"))
        raise _report(doc, problems) from None
    except ConfigIssuesError as exc:
        problems = [(doc.line_of(i.path), f"{doc.where(i.path)}: {i.message}") for i in exc.issues]
        raise _report(doc, problems) from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> LiqbotConfig:
    """Read, check and return the configuration. Any problem raises ConfigError (never a traceback).

    `env` defaults to os.environ; it feeds `${VAR}` expansion and the LIQBOT_* overrides.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    file = Path(path)
    doc = _Doc(label=str(path))
    text = _read_text(file, doc.label)
    if not text.strip():
        raise ConfigError(
            f"{doc.label} is empty; it needs at least a `chains:` list (see docs/configuration.md)"
        )
    loader, root = _compose(text, doc.label)
    try:
        duplicate_errors = _walk(root, doc)
        _scan_secrets(text, doc)
        if duplicate_errors:
            raise _report(doc, duplicate_errors)
        try:
            data = loader.construct_document(root)
        except _CONSTRUCT_ERRORS as exc:
            if isinstance(exc, yaml.YAMLError):
                raise _yaml_problem(exc, doc.label) from None
            raise ConfigError(
                f"{doc.label}: cannot read a value ({type(exc).__name__}); check any !!tags"
            ) from None
    finally:
        loader.dispose()
    missing: list[tuple[int, str]] = []
    data = _expand(data, (), environ, doc, missing)
    if missing:
        raise _report(doc, missing)
    _apply_overrides(data, environ, doc)
    _prepare(data, file.parent)
    return _validate(data, doc)
