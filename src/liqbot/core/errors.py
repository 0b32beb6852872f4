"""One root exception, split by what the operator does about it (stop, retry, skip)."""

from __future__ import annotations


class LiqbotError(Exception):
    """Root of every error liqbot raises on purpose. The message is for the operator."""


class StopError(LiqbotError):
    """Nothing will work until a person fixes something (config, key, install)."""


class ConfigError(StopError):
    """A configuration file or environment variable is wrong."""


class SecretInConfigError(ConfigError):
    """A secret was found where only public data belongs."""


class DevnetError(StopError):
    """The local devnet cannot start, deploy or act as asked."""


class RetryableError(LiqbotError):
    """Temporary: an RPC timeout, a rate limit, a dropped connection."""


class SkipError(LiqbotError):
    """This one opportunity cannot go ahead; the engine moves on."""


class StoreError(StopError):
    """The attempts database cannot be opened, migrated or read as asked."""


class AttemptNotFoundError(StoreError):
    """No liquidation attempt has that id."""


class InvalidTransition(SkipError):  # noqa: N818 - the name the execution issue and callers use
    """An attempt's status cannot move that way: the rules forbid it, or another process moved it first."""
