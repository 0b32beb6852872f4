"""Track a submitted transaction to its end: inclusion, N confirmations, reorgs; and read what it moved.

One nonce may carry several signed transactions (the original, fee-bumped replacements, a cancel); the
tracker watches all of them and ends when one is `confirmations` blocks deep (head − block ≥ N), or when
the nonce was used by a transaction that is not ours. A successful inclusion is written at once (status
`included`); if a reorg then drops the receipt or moves it to another block, the attempt goes back to
`submitted` (Store.mark_reorged), the signed bytes are broadcast again and tracking goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from eth_utils import keccak

from liqbot.chain.client import ChainClient
from liqbot.chain.errors import retrying, rpc
from liqbot.chain.signer import SignedTx
from liqbot.core.errors import RetryableError
from liqbot.store import AttemptStatus, Store

log = structlog.get_logger("liqbot.receipts")

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
CandidateKind = Literal["original", "replacement", "cancel"]


@dataclass(frozen=True)
class Candidate:
    tx: SignedTx
    kind: CandidateKind
    sent_block: int


@dataclass
class InFlight:
    """One nonce of one signer and every transaction we signed for it, newest last."""

    attempt_id: int
    sender: str
    nonce: int
    candidates: list[Candidate]
    public: bool  # the signed bytes went to the public RPC (always, without a relay)
    last_action_block: int
    replacements: int = 0
    reorgs: int = 0
    resend: bool = False  # the last broadcast had no clear answer: send the same bytes again
    notes: list[str] = field(default_factory=list)

    @property
    def latest(self) -> Candidate:
        return self.candidates[-1]


@dataclass(frozen=True)
class Outcome:
    """`mined`: one of our candidates is `confirmations` deep (its receipt may say reverted). `consumed`:
    the nonce is used on chain by a transaction that is none of ours."""

    kind: Literal["mined", "consumed"]
    receipt: dict[str, Any] | None = None
    candidate: Candidate | None = None


class PendingTimeoutError(RetryableError):
    """Not included within the wait limit. The attempt stays `submitted`: the transaction may still land."""


OnPending = Callable[[InFlight, int], Awaitable[None]]
OnReorg = Callable[[InFlight, Candidate], Awaitable[None]]
IncludedFields = Callable[[dict[str, Any], Candidate], dict[str, Any]]


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _hex(value: Any) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


def _topic_address(topic: Any) -> str:
    return "0x" + _hex(topic)[-40:]


def realized_profit(receipt_logs: Iterable[Mapping[str, Any]], token: str, account: str) -> int:
    """Net ERC-20 `token` that `account` received in these logs (in minus out), from Transfer events.
    Logs may carry hex strings (raw JSON-RPC) or bytes (web3 objects)."""
    token, account = token.lower(), account.lower()
    net = 0
    for entry in receipt_logs:
        topics = entry.get("topics") or []
        if _hex(entry.get("address", "")) != token or len(topics) != 3 or _hex(topics[0]) != TRANSFER_TOPIC:
            continue
        data = entry.get("data", "0x")
        amount = int(_hex(data).removeprefix("0x") or "0", 16)
        if _topic_address(topics[2]) == account:
            net += amount
        if _topic_address(topics[1]) == account:
            net -= amount
    return net


def receipt_fields(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """What a receipt says about cost and place, as attempt columns."""
    return {
        "included_block": _int(receipt["blockNumber"]),
        "gas_used": _int(receipt["gasUsed"]),
        "effective_gas_price": _int(receipt["effectiveGasPrice"]),
    }


class ReceiptTracker:
    def __init__(
        self,
        client: ChainClient,
        store: Store,
        *,
        confirmations: int,
        poll_interval_s: float,
        max_wait_blocks: int | None = None,
    ) -> None:
        if confirmations < 0 or poll_interval_s <= 0:
            raise ValueError("confirmations must be >= 0 and the poll interval > 0")
        self.client, self.store = client, store
        self.confirmations, self.poll_interval_s = confirmations, poll_interval_s
        self.max_wait_blocks = max_wait_blocks

    async def wait(
        self, flight: InFlight, *, on_pending: OnPending, on_reorg: OnReorg, included_fields: IncludedFields
    ) -> Outcome:
        seen: tuple[Candidate, dict[str, Any]] | None = None
        recorded = False  # the attempt row says `included` for `seen`
        consumed_since: int | None = None
        started = await self._head()
        while True:
            head = await self._head()
            if seen is not None:
                cand, receipt = seen
                now = await self.receipt(cand.tx.hash)
                if now is None or _hex(now["blockHash"]) != _hex(receipt["blockHash"]):
                    flight.reorgs += 1
                    log.warning(
                        "reorg dropped or moved a transaction",
                        attempt=flight.attempt_id,
                        tx=cand.tx.hash,
                        block=_int(receipt["blockNumber"]),
                        moved=now is not None,
                    )
                    if recorded:
                        self.store.mark_reorged(flight.attempt_id)
                        recorded = False
                    seen = None if now is None else (cand, now)
                    if now is None:
                        await on_reorg(flight, cand)
            if seen is None:
                seen = await self._find(flight)
            if seen is not None:
                consumed_since = None
                cand, receipt = seen
                if not recorded and cand.kind != "cancel" and _int(receipt["status"]) == 1:
                    fields = included_fields(receipt, cand)
                    self.store.advance(flight.attempt_id, AttemptStatus.INCLUDED, **fields)
                    recorded = True
                if head - _int(receipt["blockNumber"]) >= self.confirmations:
                    return Outcome("mined", receipt, cand)
            elif await self._mined_count(flight.sender) > flight.nonce:
                # Used on chain, and none of our hashes had a receipt: maybe ours was mined between the two
                # reads (look again next poll), or someone else's transaction took it (another process
                # with this key). Believe that only on a later poll and after the confirmations.
                if consumed_since is not None and head - consumed_since >= self.confirmations:
                    return Outcome("consumed")
                consumed_since = head if consumed_since is None else consumed_since
            else:
                consumed_since = None
                if self.max_wait_blocks is not None and head - started > self.max_wait_blocks:
                    raise PendingTimeoutError(
                        f"attempt {flight.attempt_id}: nonce {flight.nonce} of {flight.sender} not mined "
                        f"after {head - started} blocks; it stays submitted"
                    )
                await on_pending(flight, head)
            await asyncio.sleep(self.poll_interval_s)

    async def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await retrying(
            lambda: rpc(self.client, "eth_getTransactionReceipt", tx_hash)
        )
        # A pending transaction has no receipt; some nodes answer one without a block yet.
        return result if result and result.get("blockHash") and result.get("blockNumber") else None

    async def _find(self, flight: InFlight) -> tuple[Candidate, dict[str, Any]] | None:
        for cand in reversed(flight.candidates):
            receipt = await self.receipt(cand.tx.hash)
            if receipt is not None:
                return cand, receipt
        return None

    async def _head(self) -> int:
        return int(await retrying(lambda: rpc(self.client, "eth_blockNumber")), 16)

    async def _mined_count(self, address: str) -> int:
        return int(await retrying(lambda: rpc(self.client, "eth_getTransactionCount", address, "latest")), 16)
