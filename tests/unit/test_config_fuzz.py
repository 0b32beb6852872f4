"""Whatever the file holds, load_config returns a config or raises ConfigError: never anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liqbot.config import LiqbotConfig, load_config
from liqbot.core.errors import ConfigError

FIELD_WORDS = [
    "chains", "name", "chain_id", "rpc_http", "rpc_ws", "preset", "l2", "execution", "mode", "signer",
    "source", "env_var", "path", "protocols", "aave_v3", "morpho_blue", "markets", "compound_v3", "comets",
    "enabled", "metrics", "port", "host", "thresholds", "caps", "deny_assets", "executor", "contracts",
    "multicall3", "database_url", "log", "level", "json", "sequencer_uptime_feed", "private_key",
]  # fmt: skip
TOKENS = [
    "chains:", "\n", "  ", "- ", ": ", "name", "devnet", "{", "}", "[", "]", ",", "&a ", "*a", "<<: ",
    "!!int ", "!!binary ", "!!timestamp ", "!!set ", "? ", "'", '"', "#", "0x", "ab" * 20, "${LIQBOT_X}",
    "http://h:1", "preset: ethereum", "rpc_http: [http://127.0.0.1:8545]", "chain_id: 1", "---", "|", ">",
    "\t", "%YAML 1.1", "~", "null", "1e400", ".nan", "-", "\x00", "\ufeff", "é",
]  # fmt: skip
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["ethereum", "op-stack", "funds", "env", "keystore", "http://127.0.0.1:8545",
                     "0x" + "ab" * 20, "0x" + "cd" * 32, "${LIQBOT_X}", "${UNSET}", "-1", "5.5"]),
)  # fmt: skip
keys = st.one_of(st.sampled_from(FIELD_WORDS), st.text(max_size=6), st.integers(-3, 3))
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)


def _check(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    message = ""
    try:
        config = load_config(path, env={"LIQBOT_X": "http://127.0.0.1:8545"})
    except ConfigError as exc:
        message = str(exc)
    else:
        assert isinstance(config, LiqbotConfig)
        return
    assert message
    assert "Traceback" not in message


@pytest.fixture(scope="module")
def file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "config.yaml"


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(file: Path, text: str) -> None:
    _check(file, text.encode("utf-8", errors="replace"))


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_yaml_ish_text(file: Path, text: str) -> None:
    _check(file, text.encode("utf-8"))


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes(file: Path, data: bytes) -> None:
    _check(file, data)


@SETTINGS
@given(st.one_of(trees, st.dictionaries(keys, trees, max_size=8)))
def test_random_nested_data_dumped_to_yaml(file: Path, data: Any) -> None:
    _check(file, yaml.safe_dump(data, allow_unicode=True))


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(["a", "b-1"]), scalars), "chain_id": scalars, "rpc_http": trees},
        optional={
            "preset": scalars,
            "l2": scalars,
            "protocols": trees,
            "executor": scalars,
            "contracts": trees,
        },
    ),
    st.dictionaries(
        st.sampled_from(["execution", "metrics", "thresholds", "caps", "log"]), trees, max_size=3
    ),
)
def test_near_valid_configs(file: Path, chain: dict[str, Any], top: dict[str, Any]) -> None:
    _check(file, yaml.safe_dump({"chains": [chain], **top}, allow_unicode=True))
