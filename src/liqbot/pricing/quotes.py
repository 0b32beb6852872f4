"""Uniswap V3 exact-input quotes: QuoterV2 on every fee tier at once, through Multicall3 in one eth_call.

QuoterV2 is not a view (it simulates the swap and reverts with the result), so it only works under eth_call.
A tier whose call fails has no usable pool. Encoding and decoding are pure and tested offline; the I/O is
one `eth_call` per chunk of requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address
from web3.types import BlockIdentifier

from liqbot.pricing import READ_ERRORS, AsyncW3

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
FEE_TIERS: tuple[int, ...] = (100, 500, 3000, 10000)
# A quote costs ~100-300k gas under eth_call; keep a chunk well under the nodes' eth_call gas caps.
MAX_CALLS_PER_ETH_CALL = 48

_QUOTE_SELECTOR = keccak(text="quoteExactInputSingle((address,address,uint256,uint24,uint160))")[:4]
_AGGREGATE3_SELECTOR = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
_QUOTE_OUT = ["uint256", "uint160", "uint32", "uint256"]  # amountOut, sqrtPriceX96After, ticks, gasEstimate


@dataclass(frozen=True)
class SwapQuote:
    amount_out: int  # raw units of the output token
    fee_tier: int  # Uniswap V3 fee in hundredths of a bip (500 = 0.05%)
    gas_estimate: int  # QuoterV2's estimate for the swap; varies with warm slots (EIP-2929): indicative


class QuoteRequest(NamedTuple):
    """Sell exactly `amount_in` of `token_in` for `token_out`. Build with `of` so addresses are lowercase."""

    token_in: str
    token_out: str
    amount_in: int

    @classmethod
    def of(cls, token_in: str, token_out: str, amount_in: int) -> QuoteRequest:
        return cls(token_in.lower(), token_out.lower(), amount_in)


def encode_quote(req: QuoteRequest, fee: int) -> bytes:
    """QuoterV2.quoteExactInputSingle calldata, no price limit."""
    params = (req.token_in, req.token_out, req.amount_in, fee, 0)
    return _QUOTE_SELECTOR + encode(["(address,address,uint256,uint24,uint160)"], [params])


def encode_aggregate3(calls: Sequence[tuple[str, bytes]]) -> bytes:
    """Multicall3.aggregate3 calldata with allowFailure=true on every call."""
    return _AGGREGATE3_SELECTOR + encode(["(address,bool,bytes)[]"], [[(t, True, d) for t, d in calls]])


def decode_aggregate3(raw: bytes) -> list[tuple[bool, bytes]]:
    (results,) = decode(["(bool,bytes)[]"], raw)
    return [(bool(ok), bytes(data)) for ok, data in results]


def decode_quote(ok: bool, data: bytes) -> tuple[int, int] | None:
    """(amountOut, gasEstimate) of one tier, or None when the tier failed or returned nothing usable."""
    if not ok:
        return None
    try:
        amount_out, _sqrt, _ticks, gas = decode(_QUOTE_OUT, data)
    except (DecodingError, ValueError):
        return None
    return (int(amount_out), int(gas)) if amount_out > 0 else None


def best_quote(tiers: Sequence[int], results: Sequence[tuple[bool, bytes]]) -> SwapQuote | None:
    """The tier with the largest output; on a tie, the first tier listed (lowest fee in FEE_TIERS order)."""
    best: SwapQuote | None = None
    for fee, (ok, data) in zip(tiers, results, strict=True):
        decoded = decode_quote(ok, data)
        if decoded is not None and (best is None or decoded[0] > best.amount_out):
            best = SwapQuote(decoded[0], fee, decoded[1])
    return best


async def quote_many(
    w3: AsyncW3,
    quoter: str,
    requests: Iterable[QuoteRequest],
    *,
    fee_tiers: Sequence[int] = FEE_TIERS,
    multicall: str = MULTICALL3,
    block: BlockIdentifier = "latest",
) -> dict[QuoteRequest, SwapQuote | None]:
    """Best single-hop quote for each request. A request whose eth_call failed maps to None (fail closed)."""
    unique = list(dict.fromkeys(requests))
    per_call = max(1, MAX_CALLS_PER_ETH_CALL // max(1, len(fee_tiers)))
    chunks = [unique[i : i + per_call] for i in range(0, len(unique), per_call)]
    answers = await asyncio.gather(
        *(_quote_chunk(w3, quoter, c, fee_tiers, multicall, block) for c in chunks)
    )
    out: dict[QuoteRequest, SwapQuote | None] = {}
    for chunk, answer in zip(chunks, answers, strict=True):
        out.update(zip(chunk, answer, strict=True))
    return out


async def quote_best(
    w3: AsyncW3,
    quoter: str,
    token_in: str,
    token_out: str,
    amount_in: int,
    *,
    fee_tiers: Sequence[int] = FEE_TIERS,
    multicall: str = MULTICALL3,
    block: BlockIdentifier = "latest",
) -> SwapQuote | None:
    req = QuoteRequest.of(token_in, token_out, amount_in)
    found = await quote_many(w3, quoter, [req], fee_tiers=fee_tiers, multicall=multicall, block=block)
    return found[req]


async def _quote_chunk(
    w3: AsyncW3,
    quoter: str,
    chunk: Sequence[QuoteRequest],
    fee_tiers: Sequence[int],
    multicall: str,
    block: BlockIdentifier,
) -> list[SwapQuote | None]:
    # A zero amount makes the pool revert ("AS"): no need to ask.
    asked = [r for r in chunk if r.amount_in > 0]
    if not asked:
        return [None] * len(chunk)
    calls = [(quoter, encode_quote(r, fee)) for r in asked for fee in fee_tiers]
    try:
        raw = await w3.eth.call(
            {"to": to_checksum_address(multicall), "data": encode_aggregate3(calls)}, block_identifier=block
        )
        results = decode_aggregate3(bytes(raw))
    except READ_ERRORS:
        return [None] * len(chunk)
    if len(results) != len(calls):  # a malformed answer: trust none of it
        return [None] * len(chunk)
    n = len(fee_tiers)
    quoted = {r: best_quote(fee_tiers, results[i * n : (i + 1) * n]) for i, r in enumerate(asked)}
    return [quoted.get(r) for r in chunk]
