"""Gas: the EIP-1559 fee market (eth_feeHistory), the fee we bid for one liquidation (pure), and the L1 data
fee a rollup adds (OP-stack GasPriceOracle.getL1Fee, Arbitrum NodeInterface.gasEstimateL1Component).

Every read returns None when it fails: the strategy turns None into a GAS_UNKNOWN skip, never a guess."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

import rlp  # type: ignore[import-untyped]  # eth-account's own RLP dependency; ships without type hints
from eth_abi import decode, encode
from eth_utils import keccak, to_bytes, to_checksum_address
from web3.types import BlockIdentifier

from liqbot.pricing import READ_ERRORS, AsyncW3

OP_GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
ARB_NODE_INTERFACE = "0x00000000000000000000000000000000000000C8"
L2Kind = Literal["none", "op-stack", "arbitrum"]  # as ChainConfig.l2

_SHAPE_ERRORS: tuple[type[Exception], ...] = (*READ_ERRORS, KeyError, IndexError, TypeError, ValueError)
_GET_L1_FEE = keccak(text="getL1Fee(bytes)")[:4]
_GAS_ESTIMATE_L1 = keccak(text="gasEstimateL1Component(address,bool,bytes)")[:4]


@dataclass(frozen=True)
class FeeMarket:
    base_fee: int  # wei/gas of the latest block
    next_base_fee: int  # wei/gas the next block will charge (feeHistory's extra entry)
    priority_fee: int  # the requested reward percentile in the latest block: what tips look like now


@dataclass(frozen=True)
class FeeBid:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    expected_cost_wei: int  # gas_limit × (next base fee + tip): what the strategy charges against profit


@dataclass(frozen=True)
class TxShape:
    """The liquidation transaction as far as its L1 data fee is concerned (size and byte content)."""

    chain_id: int
    to: str
    data: bytes
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    nonce: int = 0
    value: int = 0


def fee_bid(
    next_base_fee: int, gas_limit: int, budget_wei: int, profit_share: Decimal, priority_cap: int
) -> FeeBid:
    """The EIP-1559 bid for one transaction whose profit before L2 gas is `budget_wei`.

    tip = min(cap, share × (budget − base cost) / gas_limit); max_fee = 2 × base + tip, but never so high
    that the worst-case spend (gas_limit × max_fee) exceeds the budget. With no surplus the tip is 0 and the
    net is at most 0, so a positive minimum profit rejects the option."""
    if gas_limit <= 0:
        raise ValueError(f"gas_limit must be positive, got {gas_limit}")
    if next_base_fee < 0 or priority_cap < 0:
        raise ValueError("base fee and priority cap cannot be negative")
    surplus = max(0, budget_wei - next_base_fee * gas_limit)
    num, den = profit_share.as_integer_ratio()
    tip = min(priority_cap, surplus * num // (den * gas_limit))
    max_fee = max(tip, min(2 * next_base_fee + tip, max(0, budget_wei) // gas_limit))
    return FeeBid(max_fee, tip, gas_limit * (next_base_fee + tip))


def unsigned_eip1559_tx(tx: TxShape) -> bytes:
    """0x02 || rlp([chainId, nonce, tip, maxFee, gas, to, value, data, accessList]): what getL1Fee expects
    (the oracle adds the signature's 68 bytes itself)."""
    fields = [
        tx.chain_id,
        tx.nonce,
        tx.max_priority_fee_per_gas,
        tx.max_fee_per_gas,
        tx.gas_limit,
        to_bytes(hexstr=tx.to),
        tx.value,
        tx.data,
        [],
    ]
    return b"\x02" + cast(bytes, rlp.encode(fields))


async def fetch_fee_market(w3: AsyncW3, reward_percentile: float = 50.0) -> FeeMarket | None:
    try:
        hist: Any = await w3.eth.fee_history(1, "latest", [reward_percentile])
        base_fees = [int(b) for b in hist["baseFeePerGas"]]
        rewards = hist.get("reward") or [[0]]
        tip = int(rewards[-1][0])
    except _SHAPE_ERRORS:  # includes a malformed answer: LESSONS, never crash on one
        return None
    if len(base_fees) != 2 or min(base_fees) < 0 or tip < 0:
        return None
    return FeeMarket(base_fees[0], base_fees[1], tip)


async def op_l1_fee(
    w3: AsyncW3, unsigned_tx: bytes, *, oracle: str = OP_GAS_PRICE_ORACLE, block: BlockIdentifier = "latest"
) -> int | None:
    """OP-stack GasPriceOracle.getL1Fee(unsigned tx) in wei."""
    data = _GET_L1_FEE + encode(["bytes"], [unsigned_tx])
    out = await _call(w3, oracle, data, ["uint256"], block)
    return None if out is None else int(out[0])


async def arbitrum_l1_fee(
    w3: AsyncW3,
    to: str,
    data: bytes,
    *,
    contract_creation: bool = False,
    node_interface: str = ARB_NODE_INTERFACE,
    block: BlockIdentifier = "latest",
) -> int | None:
    """NodeInterface.gasEstimateL1Component → gasEstimateForL1 (in L2 gas) × the L2 base fee, in wei."""
    call = _GAS_ESTIMATE_L1 + encode(["address", "bool", "bytes"], [to, contract_creation, data])
    out = await _call(w3, node_interface, call, ["uint64", "uint256", "uint256"], block)
    return None if out is None else int(out[0]) * int(out[1])


async def l1_data_fee(
    w3: AsyncW3,
    kind: L2Kind,
    tx: TxShape,
    *,
    op_oracle: str = OP_GAS_PRICE_ORACLE,
    arb_node_interface: str = ARB_NODE_INTERFACE,
    block: BlockIdentifier = "latest",
) -> int | None:
    """0 on an L1; the rollup's data fee on an L2; None when it could not be read."""
    if kind == "none":
        return 0
    if kind == "op-stack":
        return await op_l1_fee(w3, unsigned_eip1559_tx(tx), oracle=op_oracle, block=block)
    if kind == "arbitrum":
        return await arbitrum_l1_fee(w3, tx.to, tx.data, node_interface=arb_node_interface, block=block)
    raise ValueError(f"unknown L2 kind {kind!r}")


async def _call(
    w3: AsyncW3, to: str, data: bytes, types: list[str], block: BlockIdentifier
) -> tuple[Any, ...] | None:
    try:
        raw = await w3.eth.call({"to": to_checksum_address(to), "data": data}, block_identifier=block)
        return tuple(decode(types, bytes(raw)))
    except READ_ERRORS:
        return None
