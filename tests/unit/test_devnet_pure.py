"""Pure pieces of the devnet harness: price encoding, seeded plans, bytecode linking, revert decoding."""

from __future__ import annotations

from math import isqrt

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet import spec
from liqbot.harness.devnet.artifacts import linked_bytecode
from liqbot.harness.devnet.deploy_dex import sorted_pair, sqrt_price_x96
from liqbot.harness.devnet.deploy_more import morpho_oracle_price
from liqbot.harness.devnet.populate import HF_MAX, HF_MIN, borrower_address, plan
from liqbot.harness.devnet.rpc import revert_reason

MARKET = {"id": "0x" + "11" * 32, "collateral": "WETH", "loan": "USDC", "lltv": 86 * 10**16}


def test_sqrt_price_weth_usdc() -> None:
    # WETH (18) as token0 at $3,000 and USDC (6) as token1 at $1: 3000e6 raw USDC per 1e18 raw WETH.
    p = sqrt_price_x96(3000 * 10**8, 18, 1 * 10**8, 6)
    assert p == isqrt(3000 * 10**6 * 2**192 // 10**18)
    assert abs((p / 2**96) ** 2 - 3000e-12) / 3000e-12 < 1e-9


@given(
    st.integers(1, 10**14), st.integers(1, 10**14), st.sampled_from([6, 8, 18]), st.sampled_from([6, 8, 18])
)
def test_sqrt_price_is_floor_sqrt(p0: int, p1: int, d0: int, d1: int) -> None:
    s = sqrt_price_x96(p0, d0, p1, d1)
    target = p0 * 10**d1 * 2**192 // (p1 * 10**d0)
    assert s * s <= target < (s + 1) * (s + 1)


def test_sorted_pair_orders_by_address() -> None:
    lo, hi = "0x" + "0" * 39 + "1", "0x" + "f" * 40
    assert sorted_pair(hi, lo) == (lo, hi)
    assert sorted_pair(lo, hi) == (lo, hi)


def test_morpho_oracle_price_scale() -> None:
    # 1 raw WETH unit (1e-18 WETH) is worth 3000e-18 USD = 3000e-12 raw USDC units, scaled by 1e36.
    assert morpho_oracle_price("WETH", "USDC") == 3000 * 10**24


def test_plan_is_deterministic_and_in_range() -> None:
    a, b = plan(5, 300, [MARKET]), plan(5, 300, [MARKET])
    assert a == b
    assert plan(6, 300, [MARKET]) != a
    assert all(HF_MIN <= x.target_hf <= HF_MAX for x in a)
    kinds = {x.protocol for x in a}
    assert kinds == {"aave_v3", "morpho_blue"}
    assert any(x.emode for x in a)
    assert any(len(x.collateral) > 1 for x in a)
    for x in a:
        assert not set(x.collateral) & set(x.debt), "no asset is both collateral and debt"
        assert all(v > 0 for v in (*x.collateral.values(), *x.debt.values()))
    assert len({x.address for x in a}) == 300


def test_plan_targets_the_health_factor() -> None:
    """Debt is sized so the position's HF at oracle prices is the target (up to rounding down of debt)."""
    for b in plan(9, 200, [MARKET]):
        if b.protocol != "aave_v3" or b.emode:
            continue
        capacity = sum(
            amt * spec.TOKEN_BY_SYMBOL[s].price / 10 ** spec.TOKEN_BY_SYMBOL[s].decimals
            * spec.TOKEN_BY_SYMBOL[s].liquidation_threshold / 10_000
            for s, amt in b.collateral.items()
        )  # fmt: skip
        debt = sum(
            amt * spec.TOKEN_BY_SYMBOL[s].price / 10 ** spec.TOKEN_BY_SYMBOL[s].decimals
            for s, amt in b.debt.items()
        )
        assert capacity / debt == pytest.approx(b.target_hf, rel=2e-3)


def test_borrower_addresses_are_checksummed_and_distinct() -> None:
    addrs = {borrower_address(1, i) for i in range(1000)}
    assert len(addrs) == 1000
    assert all(to_checksum_address(a) == a for a in addrs)


def test_linked_bytecode_splices_addresses() -> None:
    placeholder = "__$" + "a" * 34 + "$__"
    art = {
        "bytecode": "0x6001" + placeholder + "6002",
        "linkReferences": {"L.sol": {"Lib": [{"start": 2, "length": 20}]}},
        "contractName": "X",
    }
    lib = "0x" + "ab" * 20
    assert linked_bytecode(art, {"Lib": lib}) == "0x6001" + "ab" * 20 + "6002"
    with pytest.raises(DevnetError, match="needs library Lib"):
        linked_bytecode(art, {})


def test_revert_reason_decodes_error_string() -> None:
    data = "0x08c379a0" + encode(["string"], ["45"]).hex()
    assert revert_reason(data) == "45"
    assert revert_reason("0x1234") == "0x1234"
    assert revert_reason(None) == "no revert data"
