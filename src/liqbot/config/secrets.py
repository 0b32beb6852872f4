"""Secrets: spot them in the YAML, redact them for display, and read the signer key.

Private keys and keyed RPC URLs belong in the environment or an encrypted keystore, never in the
config file. Nothing here ever puts a secret into an exception message or a log line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from liqbot.core.errors import ConfigError

if TYPE_CHECKING:
    from liqbot.config.models import LiqbotConfig, SignerConfig

__all__ = [
    "WHERE_KEYS_GO",
    "classify_key",
    "classify_scalar",
    "find_secret_in_value",
    "is_env_reference",
    "redact_url",
    "redacted_view",
    "resolve_signer_key",
    "rpc_env_var",
    "url_key_reason",
]

WHERE_KEYS_GO = (
    "Put it in the environment (e.g. export LIQBOT_SIGNER_KEY=...) and write "
    "signer: {source: env, env_var: LIQBOT_SIGNER_KEY}, or use an encrypted keystore"
)

_HEX64 = re.compile(r"(?<![0-9a-fA-F])(?:0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])")
_PRIVATE_KEY = re.compile(r"(?:0x)?[0-9a-fA-F]{64}")
_ENV_REF_ONLY = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_MNEMONIC_WORD = re.compile(r"[a-z]{3,8}")
_MNEMONIC_LENGTHS = frozenset({12, 15, 18, 21, 24})
_SENSITIVE_WORDS = ("key", "secret", "mnemonic", "password", "passphrase", "private")
# Known fields whose names look sensitive but hold variable names or a plain URL.
_SENSITIVE_EXEMPT = frozenset({"env_var", "password_env", "private_relay"})
_KEY_PARAMS = frozenset({"key", "apikey", "api_key", "api-key", "token", "access_token", "auth", "secret"})
_KEYLIKE_SEGMENT = re.compile(r"[A-Za-z0-9_-]{20,}")
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})


def is_env_reference(text: str) -> bool:
    """True when the whole value is one `${VAR}` reference (the way secrets should be written)."""
    return _ENV_REF_ONLY.fullmatch(text.strip()) is not None


def _looks_like_mnemonic(text: str) -> bool:
    words = text.split()
    return len(words) in _MNEMONIC_LENGTHS and all(_MNEMONIC_WORD.fullmatch(w) for w in words)


def is_sensitive_key(name: str) -> bool:
    """A mapping key whose name says its value is secret (`private_key`, `api_secret`, ...)."""
    lowered = name.lower()
    return lowered not in _SENSITIVE_EXEMPT and any(word in lowered for word in _SENSITIVE_WORDS)


def find_secret_in_value(text: str, *, allow_hex64: bool = False) -> str | None:
    """Describe the secret that `text` looks like, or None. `allow_hex64` is for Morpho market ids."""
    if not allow_hex64 and _HEX64.search(text):
        return "looks like a private key"
    if _looks_like_mnemonic(text):
        return "looks like a mnemonic seed phrase"
    return None


def _segment_is_keylike(segment: str) -> bool:
    if not _KEYLIKE_SEGMENT.fullmatch(segment):
        return False
    # Plain words like "ethereum-mainnet-archive" are not keys; random keys carry digits or mixed case.
    return any(c.isdigit() for c in segment) or (segment.lower() != segment and segment.upper() != segment)


def url_key_reason(url: str) -> str | None:
    """Why this URL looks like it carries an API key or password, or None for a plain URL."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    if "@" in parts.netloc:
        return "it has a user name or password before the host"
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in _KEY_PARAMS:
            return f"its query sets '{name}'"
    if any(_segment_is_keylike(seg) for seg in parts.path.split("/")):
        return "its path has a segment that looks like an API key"
    return None


def rpc_env_var(chain_name: object, kind: str = "RPC", index: int = 0) -> str:
    """The variable we suggest for a chain's endpoint: LIQBOT_RPC_<CHAIN>, LIQBOT_WS_<CHAIN>_2, ..."""
    chain = (
        re.sub(r"[^A-Z0-9]", "_", chain_name.upper())
        if isinstance(chain_name, str) and chain_name
        else "<CHAIN>"
    )
    return f"LIQBOT_{kind}_{chain}" + (f"_{index + 1}" if index else "")


def _has_password(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
        has_password = parts.password is not None
    except ValueError:
        return False
    return has_password or any(k.lower() == "password" for k, _ in parse_qsl(parts.query))


def _is_market_id_path(path: tuple[Any, ...]) -> bool:
    return (
        len(path) == 6
        and path[0] == "chains"
        and path[2:5] == ("protocols", "morpho_blue", "markets")
        and isinstance(path[5], int)
    )


def _is_rpc_path(path: tuple[Any, ...]) -> bool:
    if len(path) < 3 or path[0] != "chains" or not isinstance(path[1], int):
        return False
    return path[2:] == ("private_relay",) or (
        len(path) == 4 and path[2] in ("rpc_http", "rpc_ws") and isinstance(path[3], int)
    )


def classify_key(text: str) -> str | None:
    """Problem with a mapping key's raw text (a key that is itself a secret), or None."""
    what = find_secret_in_value(text)
    return f"{what}. {WHERE_KEYS_GO}" if what else None


def classify_scalar(path: tuple[Any, ...], text: str, scalars: Mapping[tuple[Any, ...], str]) -> str | None:
    """Problem with a scalar's raw YAML text at `path`, or None. The message never holds the value.

    `scalars` (path -> raw text) lets an RPC message name the chain's suggested variable.
    """
    what = find_secret_in_value(text, allow_hex64=_is_market_id_path(path))
    if what:
        return f"{what}. {WHERE_KEYS_GO}"
    sensitive = next((p for p in reversed(path) if isinstance(p, str) and is_sensitive_key(p)), None)
    if sensitive and text.strip() not in _NULL_WORDS and not is_env_reference(text):
        return f"{sensitive!r} holds a secret. {WHERE_KEYS_GO}"
    if "${" in text:
        return None
    if _is_rpc_path(path):
        reason = url_key_reason(text)
        if reason:
            kind = {"rpc_http": "RPC", "rpc_ws": "WS"}.get(path[2], "RELAY")
            index = path[3] if len(path) == 4 else 0
            var = rpc_env_var(scalars.get(("chains", path[1], "name")), kind, index)
            return (
                f"RPC URL {redact_url(text)} carries an API key ({reason}). "
                f'Write "${{{var}}}" here and export {var}=<the full URL>'
            )
    if path == ("database_url",) and _has_password(text):
        return (
            "the database URL carries a password. Remove it from the file and export "
            "LIQBOT_DATABASE_URL=<the full URL> instead"
        )
    return None


def redact_url(url: str) -> str:
    """Keep scheme://host[:port]; replace userinfo, path and query with *** when present.

    Loopback and bare URLs come back unchanged. Anything that does not parse as a URL is
    replaced whole, since we cannot tell which part is safe to show.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "***"
    if not parts.scheme or not parts.netloc:
        return "***"
    userinfo, _, hostport = parts.netloc.rpartition("@")
    tail = parts.path not in ("", "/") or bool(parts.query) or bool(parts.fragment)
    head = f"{parts.scheme}://{'***@' if userinfo else ''}{hostport}"
    return head + "/***" if tail else head + parts.path


def redact_database_url(url: str) -> str:
    """Show a database URL with its password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "***"
    if password is None and not _has_password(url):
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:***@{hostport}" if userinfo else hostport
    return parts._replace(netloc=netloc, query="***" if parts.query else "").geturl()


def _redact_chain(chain: dict[str, Any]) -> None:
    chain["rpc_http"] = [redact_url(u) for u in chain.get("rpc_http", [])]
    chain["rpc_ws"] = [redact_url(u) for u in chain.get("rpc_ws", [])]
    if chain.get("private_relay"):
        chain["private_relay"] = redact_url(chain["private_relay"])


def redacted_view(config: LiqbotConfig) -> dict[str, Any]:
    """The effective config as plain data, safe to print: URLs redacted, signer shows no secret."""
    data: dict[str, Any] = config.model_dump(mode="json", by_alias=True)
    data["database_url"] = redact_database_url(data["database_url"])
    for chain in data["chains"]:
        _redact_chain(chain)
    return data


def _normalise_key(raw: str, source: str) -> str:
    text = raw.strip()
    if not _PRIVATE_KEY.fullmatch(text):
        raise ConfigError(
            f"{source} does not hold a private key (expected 64 hex characters, optionally 0x-prefixed)"
        )
    return "0x" + text.removeprefix("0x").lower()


def _read_keystore(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"keystore file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read keystore file {path}: {type(exc).__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"keystore file {path} is not JSON (line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"keystore file {path} is not a JSON object")
    return data


def resolve_signer_key(signer: SignerConfig, env: Mapping[str, str] | None = None) -> str:
    """Return the signer's private key as 0x-prefixed hex. Never log the result."""
    from eth_account import Account

    environ = os.environ if env is None else env
    if signer.source == "env":
        value = environ.get(signer.env_var)
        if not value:
            raise ConfigError(
                f"environment variable {signer.env_var} is not set; export it with the signer's "
                "private key, or use signer: {source: keystore, path: ..., password_env: ...}"
            )
        return _normalise_key(value, f"environment variable {signer.env_var}")
    keystore = _read_keystore(signer.path)
    password = environ.get(signer.password_env)
    if password is None:
        raise ConfigError(
            f"environment variable {signer.password_env} is not set; export the password "
            f"of keystore {signer.path}"
        )
    try:
        raw = Account.decrypt(keystore, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise ConfigError(
                f"wrong password for keystore {signer.path} (from {signer.password_env})"
            ) from None
        raise ConfigError(f"keystore file {signer.path} is not a valid keystore") from None
    except (KeyError, TypeError):
        raise ConfigError(f"keystore file {signer.path} is not a valid keystore") from None
    return "0x" + bytes(raw).hex()
