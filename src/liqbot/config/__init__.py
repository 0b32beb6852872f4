"""Configuration: one YAML file plus environment variables, validated into frozen models.

from liqbot.config import load_config
config = load_config("config.yaml")
chain = config.chain("mainnet")
"""

from liqbot.config.loader import ENV_OVERRIDES, load_config
from liqbot.config.models import (
    ChainConfig,
    EnvSignerConfig,
    ExecutionConfig,
    KeystoreSignerConfig,
    LiqbotConfig,
    SignerConfig,
)
from liqbot.config.presets import PRESETS
from liqbot.config.secrets import redact_url, redacted_view, resolve_signer_key

__all__ = [
    "ENV_OVERRIDES",
    "PRESETS",
    "ChainConfig",
    "EnvSignerConfig",
    "ExecutionConfig",
    "KeystoreSignerConfig",
    "LiqbotConfig",
    "SignerConfig",
    "load_config",
    "redact_url",
    "redacted_view",
    "resolve_signer_key",
]
