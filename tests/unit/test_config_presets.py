"""Chain presets: every address is EIP-55 checksummed as written, and each preset loads on its own."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from liqbot.config import PRESETS, load_config
from liqbot.config.presets import apply_preset

HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _strings(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


ADDRESSES = [
    (f"{name}{path}", text)
    for name, preset in PRESETS.items()
    for path, text in _strings(preset)
    if HEX_ADDRESS.fullmatch(text)
]


def test_every_preset_has_its_addresses() -> None:
    assert set(PRESETS) == {"ethereum", "arbitrum", "optimism", "base", "polygon"}
    assert len(ADDRESSES) >= 40


@pytest.mark.parametrize(("where", "address"), ADDRESSES, ids=[w for w, _ in ADDRESSES])
def test_preset_address_is_checksummed(where: str, address: str) -> None:
    assert to_checksum_address(address) == address, where


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_loads_with_only_an_endpoint(tmp_path: Path, name: str) -> None:
    text = f'chains:\n  - name: {name}\n    preset: {name}\n    rpc_http: ["http://127.0.0.1:8545"]\n'
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    chain = load_config(tmp_path / "config.yaml", env={}).chain(name)
    assert chain.chain_id == PRESETS[name]["chain_id"]
    # Compound V3 stays off until its adapter is proven against Comet bytecode (it fails closed).
    assert set(chain.protocols.enabled_names()) == {"aave_v3", "morpho_blue"}
    assert chain.contracts.multicall3 == "0xcA11bde05977b3631167028862bE2a173976CA11"
    assert (chain.l2 == "none") == (chain.sequencer_uptime_feed is None)
    assert chain.contracts.uniswap_v3_swap_router_kind == ("02" if name == "base" else "v1")


def test_explicit_fields_win_and_mappings_merge() -> None:
    merged = apply_preset(
        {"preset": "base", "chain_id": 31337, "protocols": {"compound_v3": {"enabled": False}}}
    )
    assert merged["chain_id"] == 31337
    assert merged["protocols"]["compound_v3"]["enabled"] is False
    assert merged["protocols"]["compound_v3"]["comets"]  # the preset's comets are still there
    assert merged["protocols"]["aave_v3"]["pool_addresses_provider"].startswith("0xe20f")
    assert PRESETS["base"]["chain_id"] == 8453  # the preset itself is untouched


def test_unknown_preset_is_left_for_validation_to_report() -> None:
    assert apply_preset({"preset": "solana"}) == {"preset": "solana"}
