"""Secrets: URL redaction, the effective-config view, and reading the signer key from env or keystore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from liqbot.config import load_config, redact_url, redacted_view, resolve_signer_key
from liqbot.config.models import EnvSignerConfig, KeystoreSignerConfig
from liqbot.config.secrets import url_key_reason
from liqbot.core.errors import ConfigError

# anvil's first public dev account: the only kind of private key allowed in tests.
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
FIXTURES = Path(__file__).parent / "fixtures" / "config"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://localhost:8545/", "http://localhost:8545/"),
        ("ws://[::1]:8546", "ws://[::1]:8546"),
        ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", "https://mainnet.infura.io/***"),
        ("wss://eth-mainnet.g.alchemy.com/v2/AbCdEf0123456789", "wss://eth-mainnet.g.alchemy.com/***"),
        ("https://rpc.example:8443/x?apikey=s3cret", "https://rpc.example:8443/***"),
        ("https://user:pa55@rpc.example", "https://***@rpc.example"),
        ("https://rpc.example/#frag", "https://rpc.example/***"),
        ("not a url", "***"),
        ("", "***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "keyed"),
    [
        ("http://127.0.0.1:8545", False),
        ("https://rpc.ankr.com/eth", False),
        ("https://arbitrum-mainnet-archive.example/rpc", False),  # long but a plain word
        ("https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef", True),
        ("https://eth-mainnet.g.alchemy.com/v2/AbCdEfGhIjKlMnOpQrStUv", True),
        ("https://rpc.example/?token=x", True),
        ("https://rpc.example/?API_KEY=x", True),
        ("https://u:p@rpc.example", True),
    ],
)
def test_url_key_detection(url: str, keyed: bool) -> None:
    assert (url_key_reason(url) is not None) is keyed


def test_redacted_view_hides_endpoints_and_keeps_structure() -> None:
    secret_url = "https://eth.example.org/v2/AbCdEf0123456789AbCdEf"
    cfg = load_config(FIXTURES / "devnet.yaml", env={"LIQBOT_RPC_MAINNET": secret_url})
    view = redacted_view(cfg)
    assert view["chains"][0]["rpc_http"] == ["http://127.0.0.1:8545", "https://eth.example.org/***"]
    assert view["execution"]["signer"] == {"source": "env", "env_var": "LIQBOT_SIGNER_KEY"}
    assert "AbCdEf0123456789" not in json.dumps(view)


def test_redacted_view_hides_database_password(tmp_path: Path) -> None:
    cfg = load_config(
        FIXTURES / "minimal.yaml", env={"LIQBOT_DATABASE_URL": "postgresql://bot:pa55@db:5432/liq"}
    )
    assert redacted_view(cfg)["database_url"] == "postgresql://bot:***@db:5432/liq"


def test_signer_key_from_env() -> None:
    signer = EnvSignerConfig(source="env")
    assert resolve_signer_key(signer, {"LIQBOT_SIGNER_KEY": ANVIL_KEY}) == ANVIL_KEY
    assert resolve_signer_key(signer, {"LIQBOT_SIGNER_KEY": ANVIL_KEY[2:].upper()}) == ANVIL_KEY


def test_signer_key_env_errors_never_echo_the_value() -> None:
    signer = EnvSignerConfig(source="env", env_var="BOT_KEY")
    with pytest.raises(ConfigError, match="BOT_KEY is not set"):
        resolve_signer_key(signer, {})
    with pytest.raises(ConfigError, match="does not hold a private key") as info:
        resolve_signer_key(signer, {"BOT_KEY": ANVIL_KEY[:-2]})
    assert ANVIL_KEY[2:-2] not in str(info.value)


def _keystore(tmp_path: Path, password: str) -> Path:
    # pbkdf2 with few iterations keeps the test fast; real keystores use scrypt.
    keyfile = Account.encrypt(bytes.fromhex(ANVIL_KEY[2:]), password, kdf="pbkdf2", iterations=2)
    path = tmp_path / "bot.json"
    path.write_text(json.dumps(keyfile), encoding="utf-8")
    return path


def test_keystore_round_trip(tmp_path: Path) -> None:
    path = _keystore(tmp_path, "correct horse")
    signer = KeystoreSignerConfig(source="keystore", path=path)
    key = resolve_signer_key(signer, {"LIQBOT_KEYSTORE_PASSWORD": "correct horse"})
    assert key == ANVIL_KEY
    assert Account.from_key(key).address == ANVIL_ADDRESS


def test_keystore_through_the_config_file(tmp_path: Path) -> None:
    _keystore(tmp_path, "pw")
    text = (
        "execution:\n  signer: {source: keystore, path: bot.json, password_env: BOT_PW}\n"
        'chains:\n  - {name: a, chain_id: 1, rpc_http: ["http://127.0.0.1:8545"]}\n'
    )
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(tmp_path / "config.yaml", env={})
    assert cfg.execution.signer is not None
    assert resolve_signer_key(cfg.execution.signer, {"BOT_PW": "pw"}) == ANVIL_KEY


@pytest.mark.parametrize(
    ("setup", "env", "hint"),
    [
        ("good", {"LIQBOT_KEYSTORE_PASSWORD": "wrong"}, "wrong password"),
        ("good", {}, "LIQBOT_KEYSTORE_PASSWORD is not set"),
        ("missing", {"LIQBOT_KEYSTORE_PASSWORD": "pw"}, "keystore file not found"),
        ("not-json", {"LIQBOT_KEYSTORE_PASSWORD": "pw"}, "is not JSON"),
        ("not-keystore", {"LIQBOT_KEYSTORE_PASSWORD": "pw"}, "not a valid keystore"),
        ("list", {"LIQBOT_KEYSTORE_PASSWORD": "pw"}, "not a JSON object"),
    ],
)
def test_keystore_errors(tmp_path: Path, setup: str, env: dict[str, str], hint: str) -> None:
    path = _keystore(tmp_path, "pw")
    if setup == "missing":
        path = tmp_path / "nope.json"
    elif setup == "not-json":
        path.write_text("{oops", encoding="utf-8")
    elif setup == "not-keystore":
        path.write_text('{"version": 3}', encoding="utf-8")
    elif setup == "list":
        path.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match=hint) as info:
        resolve_signer_key(KeystoreSignerConfig(source="keystore", path=path), env)
    assert ANVIL_KEY[2:] not in str(info.value)
