"""Config loading: good files load into frozen models; every broken file gets a clear, located error."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pydantic
import pytest

from liqbot.config import ChainConfig, LiqbotConfig, load_config
from liqbot.core.errors import ConfigError, SecretInConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "config"
# anvil's first public dev account key: the only kind of private key allowed in tests.
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RPC_ENV = {
    f"LIQBOT_RPC_{c}": "http://127.0.0.1:8545" for c in ("MAINNET", "ARBITRUM", "OPTIMISM", "BASE", "POLYGON")
}

MIN = """\
chains:
  - name: devnet
    chain_id: 31337
    rpc_http: ["http://127.0.0.1:8545"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), env=env or {})
    return info.value


# --- good configs -------------------------------------------------------------------------------


def test_minimal_config_gets_safe_defaults() -> None:
    cfg = load_config(FIXTURES / "minimal.yaml", env={})
    assert isinstance(cfg, LiqbotConfig)
    assert isinstance(cfg.chains, tuple)
    chain = cfg.chain("devnet")
    assert isinstance(chain, ChainConfig)
    assert chain.chain_id == 31337
    assert chain.rpc_http == ("http://127.0.0.1:8545",)
    assert cfg.execution.mode == "shadow"
    assert cfg.execution.signer is None
    assert chain.protocols.enabled_names() == ()
    assert cfg.thresholds.min_profit_usd == Decimal("5")
    assert isinstance(cfg.caps.max_daily_gas_usd, Decimal)


def test_devnet_shape_with_preset_and_env_expansion() -> None:
    env = {"LIQBOT_RPC_MAINNET": "https://eth.example.org/v2/AbCdEf0123456789AbCdEf"}
    cfg = load_config(FIXTURES / "devnet.yaml", env=env)
    chain = cfg.chain("devnet")
    assert chain.chain_id == 31337  # explicit field beats the preset's 1
    assert chain.rpc_http[1] == env["LIQBOT_RPC_MAINNET"]
    # lowercase in the file, stored checksummed
    assert chain.contracts.uniswap_v3_swap_router == "0xE592427A0AEce92De3Edee1F18E0157C05861564"
    assert chain.contracts.uniswap_v3_swap_router_kind == "v1"
    assert chain.protocols.enabled_names() == ("aave_v3", "morpho_blue")
    assert chain.protocols.morpho_blue.markets == (
        "0xb323495f7e4148be5643a4ea4a8221eef163e4bccfdedc2a6f4696baacbc86cc",
    )
    assert chain.protocols.compound_v3.comets == ()  # explicit empty list replaces the preset's
    assert cfg.log.json_output is False
    assert cfg.deny_assets == ("0xdAC17F958D2ee523a2206206994597C13D831ec7",)


def test_presets_fill_everything_but_endpoints() -> None:
    cfg = load_config(FIXTURES / "presets.yaml", env=RPC_ENV)
    arb = cfg.chain("arbitrum")
    assert (arb.chain_id, arb.l2) == (42161, "arbitrum")
    assert arb.sequencer_uptime_feed == "0xFdB631F5EE196F0ed6FAa767959853A9F217697D"
    assert arb.contracts.arb_node_interface == "0x00000000000000000000000000000000000000C8"
    base = cfg.chain("base")
    assert base.contracts.uniswap_v3_swap_router_kind == "02"
    assert base.contracts.op_gas_price_oracle == "0x420000000000000000000000000000000000000F"
    polygon = cfg.chain("polygon")
    assert polygon.l2 == "none" and polygon.sequencer_uptime_feed is None
    assert polygon.protocols.enabled_names() == ("aave_v3", "morpho_blue")
    assert cfg.chain("mainnet").protocols.morpho_blue.start_block == 18883124


def test_unquoted_lowercase_address_is_kept_whole_and_checksummed(tmp_path: Path) -> None:
    # YAML 1.1 would read 0x... as an int and drop the leading zeros; the loader keeps it as text.
    text = MIN + "    executor: 0x00000000000000000000000000000000000000c8\n"
    cfg = load_config(_write(tmp_path, text), env={})
    assert cfg.chains[0].executor == "0x00000000000000000000000000000000000000C8"


def test_money_is_decimal_even_from_a_yaml_float(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "thresholds: {min_profit_usd: 5.1}\n" + MIN), env={})
    assert cfg.thresholds.min_profit_usd == Decimal("5.1")


def test_env_overrides(tmp_path: Path) -> None:
    env = {
        "LIQBOT_DATABASE_URL": "postgresql://bot:pw@db/liqbot",
        "LIQBOT_METRICS_PORT": "9200",
        "LIQBOT_EXECUTION_MODE": "funds",
        "LIQBOT_LOG_LEVEL": "debug",
        "LIQBOT_LOG_JSON": "true",
    }
    text = (
        "execution: {signer: {source: env}}\n"
        + MIN
        + "    executor: 0x5FbDB2315678afecb367f032d93F642f64180aa3\n"
    )
    cfg = load_config(_write(tmp_path, text), env=env)
    assert cfg.database_url == env["LIQBOT_DATABASE_URL"]
    assert cfg.metrics.port == 9200
    assert cfg.execution.mode == "funds"
    assert (cfg.log.level, cfg.log.json_output) == ("debug", True)


def test_keystore_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    text = "execution: {signer: {source: keystore, path: keys/bot.json}}\n" + MIN
    cfg = load_config(_write(tmp_path, text), env={})
    signer = cfg.execution.signer
    assert signer is not None and signer.source == "keystore"
    assert signer.path == tmp_path / "keys" / "bot.json"


def test_models_are_frozen_and_chain_lookup_names_the_choices() -> None:
    cfg = load_config(FIXTURES / "minimal.yaml", env={})
    with pytest.raises(pydantic.ValidationError):
        cfg.chains[0].chain_id = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match="configured chains: devnet"):
        cfg.chain("nope")


def test_direct_construction_still_runs_cross_field_checks() -> None:
    chain = {"name": "a", "chain_id": 1, "rpc_http": ["http://127.0.0.1:8545"], "l2": "arbitrum"}
    with pytest.raises(ConfigError, match=r"chains\[0\]\.sequencer_uptime_feed"):
        LiqbotConfig.model_validate({"chains": [chain]})


# --- broken configs -----------------------------------------------------------------------------

ADDR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BAD_CHECKSUM = ADDR[:-1] + "A"  # flipping one letter's case always breaks EIP-55

# (id, yaml, env, line, path, hint). Line None: the value came from the environment.
# fmt: off
BROKEN: list[tuple[str, str, dict[str, str], int | None, str, str]] = [
    ("typo", MIN + "    rpc_htp: []\n", {}, 5, "chains[0].rpc_htp", "did you mean 'rpc_http'?"),
    ("top-typo", "chain:\n  - name: x\n", {}, 1, "chain", "did you mean 'chains'?"),
    ("l2-enum", MIN + "    l2: optimism\n", {}, 5, "chains[0].l2", "'none', 'op-stack' or 'arbitrum'"),
    ("l2-feed", MIN + "    l2: op-stack\n", {}, 2, "chains[0].sequencer_uptime_feed", "uptime feed"),
    ("checksum", MIN + f"    executor: {BAD_CHECKSUM}\n", {}, 5, "chains[0].executor", "EIP-55 checksum"),
    ("short-address", MIN + "    executor: 0x1234\n", {}, 5, "chains[0].executor", "0x and 40 hex"),
    ("dup-name", MIN + MIN.split("\n", 1)[1].replace("31337", "1"), {}, 5, "chains[1].name", "unique"),
    ("dup-id", MIN + MIN.split("\n", 1)[1].replace("devnet", "other"), {}, 6, "chains[1].chain_id", "twice"),
    ("funds-no-signer", "execution: {mode: funds}\n" + MIN, {}, 1, "execution.signer", "needs a signer"),
    ("preset", MIN + "    preset: ethereumm\n", {}, 5, "chains[0].preset", "'ethereum', 'arbitrum'"),
    ("rpc-empty", MIN.replace('["http://127.0.0.1:8545"]', "[]"), {}, 4, "chains[0].rpc_http",
     "at least one entry"),
    ("rpc-url", MIN.replace("http://127.0.0.1", "127.0.0.1"), {}, 4, "chains[0].rpc_http[0]",
     "http:// or https://"),
    ("ws-url", MIN + '    rpc_ws: ["http://127.0.0.1:8546"]\n', {}, 5, "chains[0].rpc_ws[0]", "ws:// or wss://"),
    ("chain-id", MIN.replace("31337", "abc"), {}, 3, "chains[0].chain_id", "whole number"),
    ("money", "thresholds: {min_profit_usd: abc}\n" + MIN, {}, 1, "thresholds.min_profit_usd", "quoted"),
    ("share", 'thresholds:\n  priority_fee_profit_share: "2"\n' + MIN, {}, 2,
     "thresholds.priority_fee_profit_share", "<= 1"),
    ("port", "metrics:\n  port: 70000\n" + MIN, {}, 2, "metrics.port", "<= 65535"),
    ("log-level", "log: {level: loud}\n" + MIN, {}, 1, "log.level", "'debug', 'info', 'warning' or 'error'"),
    ("signer-source", "execution:\n  signer: {source: vault}\n" + MIN, {}, 2, "execution.signer.source",
     "'env', 'keystore'"),
    ("keystore-path", "execution:\n  signer:\n    source: keystore\n" + MIN, {}, 2, "execution.signer.path",
     "is required"),
    ("aave-address", MIN + "    protocols:\n      aave_v3: {enabled: true}\n", {}, 6,
     "chains[0].protocols.aave_v3.pool_addresses_provider", "enabled: false"),
    ("comets", MIN + "    protocols:\n      compound_v3: {enabled: true}\n", {}, 6,
     "chains[0].protocols.compound_v3.comets", "at least one Comet"),
    ("chain-name", MIN.replace("name: devnet", "name: DevNet"), {}, 2, "chains[0].name", "lowercase letters"),
    ("unset-env", MIN.replace("http://127.0.0.1:8545", "${LIQBOT_RPC_X}"), {}, 4, "chains[0].rpc_http[0]",
     "LIQBOT_RPC_X is not set"),
    ("dup-key", MIN + "    chain_id: 1\n", {}, 5, "chains[0].chain_id", "duplicate key"),
    ("no-chains", "metrics: {port: 9108}\n", {}, 1, "chains", "is required"),
    ("deny-assets", MIN + "deny_assets: [0x12]\n", {}, 5, "deny_assets[0]", "40 hex"),
    ("market-id", MIN + f"    protocols:\n      morpho_blue:\n        morpho: {ADDR}\n        markets: [1]\n",
     {}, 8, "chains[0].protocols.morpho_blue.markets[0]", "64 hex"),
    ("env-mode", MIN, {"LIQBOT_EXECUTION_MODE": "yolo"}, None, "execution.mode", "'funds' or 'flash'"),
    ("metrics-type", "metrics: 5\n" + MIN, {}, 1, "metrics", "mapping with fields: host, port"),
    ("chains-type", "chains: {name: x}\n", {}, 1, "chains", "expected a list"),
    ("bool-int", "caps: {max_inflight_per_chain: yes}\n" + MIN, {}, 1, "caps.max_inflight_per_chain",
     "not true/false"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "env", "line", "path", "hint"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_config_names_file_line_path_and_fix(
    tmp_path: Path, text: str, env: dict[str, str], line: int | None, path: str, hint: str
) -> None:
    message = str(_error(tmp_path, text, env))
    assert "config.yaml" in message
    where = f"line {line}, {path}:" if line is not None else f"from the environment), {path}:"
    matching = [x for x in message.splitlines() if where in x]
    assert matching, message
    assert any(hint in x for x in matching), message
    assert "Traceback" not in message


# (id, yaml, line, path, hint, the secret that must never be echoed)
# fmt: off
SECRETS: list[tuple[str, str, int, str, str, str]] = [
    ("hex-key", MIN + f"    foo: {ANVIL_KEY}\n", 5, "chains[0].foo", "like a private key", ANVIL_KEY[2:]),
    ("bare-hex-key", f'execution:\n  signer: {{source: env, key: "{ANVIL_KEY[2:]}"}}\n' + MIN, 2,
     "execution.signer.key", "LIQBOT_SIGNER_KEY", ANVIL_KEY[2:]),
    ("in-url", MIN + f"    private_relay: https://relay.example/{ANVIL_KEY}\n", 5, "chains[0].private_relay",
     "private key", ANVIL_KEY[2:]),
    ("comment", MIN + f"# old key: {ANVIL_KEY}\n", 5, "a comment", "looks like a private key", ANVIL_KEY[2:]),
    ("mnemonic", "seed: test test test test test test test test test test test junk\n" + MIN, 1, "seed",
     "mnemonic", "test test test"),
    ("key-name", "api_secret: hunter2xyz\n" + MIN, 1, "api_secret", "holds a secret", "hunter2xyz"),
    ("infura", MIN.replace("http://127.0.0.1:8545", "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef"),
     4, "chains[0].rpc_http[0]", "${LIQBOT_RPC_DEVNET}", "0123456789abcdef0123456789abcdef"),
    ("query-key", MIN.replace("http://127.0.0.1:8545", "https://rpc.example/x?apikey=s3cr3tvalue"), 4,
     "chains[0].rpc_http[0]", "export LIQBOT_RPC_DEVNET", "s3cr3tvalue"),
    ("userinfo", MIN + '    rpc_ws: ["wss://user:pa55word@ws.example"]\n', 5, "chains[0].rpc_ws[0]",
     "LIQBOT_WS_DEVNET", "pa55word"),
    ("db-password", "database_url: postgresql://bot:pa55word@db/liqbot\n" + MIN, 1, "database_url",
     "LIQBOT_DATABASE_URL", "pa55word"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "line", "path", "hint", "secret"), [c[1:] for c in SECRETS], ids=[c[0] for c in SECRETS]
)
def test_secret_in_yaml_is_refused_without_echo(
    tmp_path: Path, text: str, line: int, path: str, hint: str, secret: str
) -> None:
    error = _error(tmp_path, text)
    assert isinstance(error, SecretInConfigError)
    message = str(error)
    assert f"config.yaml line {line}, {path}:" in message, message
    assert hint in message
    assert secret not in message
    assert ANVIL_KEY[2:] not in message


def test_morpho_market_ids_are_not_mistaken_for_keys(tmp_path: Path) -> None:
    market = "0x" + ANVIL_KEY[2:]  # same shape as a key, but in the one place 64-hex ids belong
    text = (
        MIN + f"    protocols:\n      morpho_blue:\n        morpho: {ADDR}\n"
        f"        markets: [{market}]  # WETH/USDC, {market}\n"
    )
    cfg = load_config(_write(tmp_path, text), env={})
    assert cfg.chains[0].protocols.morpho_blue.markets == (market,)


def test_secret_from_env_is_fine_and_never_echoed_on_error(tmp_path: Path) -> None:
    secret_url = "https://eth.example.org/v2/AbCdEf0123456789AbCdEf"
    text = MIN.replace("http://127.0.0.1:8545", "${LIQBOT_RPC_DEVNET}")
    cfg = load_config(_write(tmp_path, text), env={"LIQBOT_RPC_DEVNET": secret_url})
    assert cfg.chains[0].rpc_http == (secret_url,)
    bad = "wss://eth.example.org/v2/AbCdEf0123456789AbCdEf"  # wrong scheme for rpc_http
    message = str(_error(tmp_path, text, {"LIQBOT_RPC_DEVNET": bad}))
    assert "${LIQBOT_RPC_DEVNET}" in message and "AbCdEf0123456789" not in message


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    text = "log: {level: loud}\nmetrics: {port: 0}\n" + MIN + "    l2: optimism\n    rpc_htp: []\n"
    message = str(_error(tmp_path, text))
    assert message.startswith("4 problems in ")
    assert [int(x.split(" line ")[1].split(",")[0]) for x in message.splitlines()[1:]] == [1, 2, 7, 8]


def test_funds_mode_lists_every_missing_executor(tmp_path: Path) -> None:
    second = MIN.split("\n", 1)[1].replace("devnet", "other").replace("31337", "1")
    message = str(_error(tmp_path, "execution: {mode: flash}\n" + MIN + second))
    assert "execution.signer" in message
    assert "chains[0].executor" in message and "chains[1].executor" in message


@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (b"", "is empty"),
        (b"# only a comment\n", "is empty"),
        (b"- a\n- b\n", "top level must be a mapping"),
        (b"just text\n", "top level must be a mapping"),
        (b"chains: [\n", "line 2, column 1: YAML syntax error"),
        (b"a: b\n c: d\n", "YAML syntax error"),
        (b"chains:\n\t- x\n", "line 2, column 1: YAML syntax error"),
        (b"\xff\xfe\x00bad", "is not UTF-8"),
        (b"a: 1\n---\nb: 2\n", "YAML syntax error"),
        (b"a: !!bool maybe\n", "cannot read a value"),
        (b"a: &x [*x]\n", "recursive alias"),
        (b"? [a]\n: b\n", "key must be plain text"),
    ],
)
def test_unreadable_files_get_one_clear_line(tmp_path: Path, content: bytes, hint: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert hint in str(info.value)
    assert "config.yaml" in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", env={})
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, env={})
    with pytest.raises(ConfigError, match="not a valid path"):
        load_config("bad\0name.yaml", env={})
