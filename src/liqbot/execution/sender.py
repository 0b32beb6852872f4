"""The transaction lifecycle, one path for every sending mode:

    simulate (eth_call, latest block, from the signer) → bid fees within budget → take a nonce → sign
    → record `submitted` (hash, nonce, sender) → broadcast (public or relay) → track → record the end

A failed simulation is never sent: '45'-style reasons end `lost_race`, others `skipped`. The row is
written before the broadcast, so a crash after sending never loses the hash; so is every signed transaction
(original, replacements, cancels) with its raw bytes, in attempt_transactions, for recovery after a crash
(liqbot.execution.recover). A node's refusal ends `failed` with the hash and nonce cleared (nothing was
broadcast). The end comes from the receipt:
`included`, `reverted` (decoded reason), `lost_race` (reverted for a race reason), `failed` (cancelled,
or the nonce used by another transaction)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from eth_utils import to_checksum_address

from liqbot.chain.client import ChainClient
from liqbot.chain.errors import (
    ExecutionRevertedError,
    LostRaceError,
    NodeError,
    NonceTooHighError,
    NonceTooLowError,
    ReplacementUnderpricedError,
    decode_revert,
    retrying,
    reverted,
    rpc,
)
from liqbot.chain.nonces import (
    CANCEL,
    DEFAULT_BUMP,
    NonceConflictError,
    NonceManager,
    payload_key,
    replacement_fees,
)
from liqbot.chain.signer import SignedTx, SignerLane, SignerLanes
from liqbot.config import ChainConfig
from liqbot.core.errors import SkipError, StopError
from liqbot.execution.receipts import (
    Candidate,
    CandidateKind,
    InFlight,
    Outcome,
    ReceiptTracker,
    realized_profit,
    receipt_fields,
)
from liqbot.execution.relay import Route
from liqbot.pricing.gas import fee_bid
from liqbot.store import Attempt, AttemptStatus, Store, record_tx

log = structlog.get_logger("liqbot.sender")
S = AttemptStatus
CANCEL_GAS = 21_000


Pricer = Callable[[Mapping[str, int]], Decimal | None]


class FeeBudgetError(SkipError):
    """The gas this call may burn would exceed the profit its minProfit protects: not sent."""


@dataclass(frozen=True)
class LiquidationTx:
    """What to send and what it may cost. `gas_budget_wei` is the most gas may cost (max fee × gas limit),
    i.e. the profit the call's on-chain minProfit protects, less any L1 data fee, in native wei."""

    to: str
    data: bytes
    gas_limit: int
    gas_budget_wei: int
    priority_cap_wei: int  # the tip never goes above this (per gas)
    profit_share: Decimal = Decimal("0.2")  # share of the surplus over base cost bid as tip
    value: int = 0
    next_base_fee: int | None = None  # from the head the engine saw; read from the node if None
    profit_tokens: tuple[str, ...] = ()  # tokens whose Transfer logs make the realized profit
    profit_account: str | None = None  # who receives the profit; the signer if None


@dataclass(frozen=True)
class SendPolicy:
    confirmations: int = 2  # blocks on top of the inclusion block before the end is final
    poll_interval_s: float = 1.0
    bump: Decimal = DEFAULT_BUMP  # replacement bump on both tip and max fee, rounded up
    stuck_after_blocks: int = 3  # blocks without inclusion before a replacement (or a cancel)
    max_replacements: int = 3  # replacements + cancels per nonce; after that only rebroadcasts
    max_wait_blocks: int | None = None  # give up tracking (PendingTimeoutError; the row stays submitted)

    @classmethod
    def for_chain(cls, chain: ChainConfig, **overrides: Any) -> SendPolicy:
        poll = min(1.0, max(0.05, chain.block_time_s / 4))
        return cls(**{"confirmations": chain.confirmations, "poll_interval_s": poll, **overrides})


@dataclass(frozen=True)
class SendResult:
    attempt: Attempt  # the row as it ended
    receipt: dict[str, Any] | None = None
    realized: dict[str, int] = field(default_factory=dict)  # token -> net units received, from the logs
    candidates: tuple[str, ...] = ()  # every hash signed for the nonce, oldest first
    route: str = "public"

    @property
    def status(self) -> AttemptStatus:
        return self.attempt.status


class TxSender:
    """Sends liquidations for one chain through its signer lanes. Safe to run many sends concurrently."""

    def __init__(
        self,
        client: ChainClient,
        store: Store,
        lanes: SignerLanes,
        *,
        policy: SendPolicy | None = None,
        route: Route | None = None,
        pricer: Pricer | None = None,
    ) -> None:
        """`pricer` values the realized profit (token -> net units) in USD with the engine's prices;
        without it (or when it returns None) realized_profit_usd stays empty."""
        self.client, self.store, self.lanes = client, store, lanes
        self.policy = policy or SendPolicy()
        self.route = route or Route(client)
        self.pricer = pricer
        self.nonces = NonceManager(client)
        self.tracker = ReceiptTracker(
            client, store, confirmations=self.policy.confirmations,
            poll_interval_s=self.policy.poll_interval_s, max_wait_blocks=self.policy.max_wait_blocks,
        )  # fmt: skip

    async def send_liquidation(self, attempt_id: int, tx: LiquidationTx) -> SendResult:
        """Take attempt `attempt_id` (detected) to its end. Returns the final row; raises StopError
        (after recording) when a person must act (e.g. the signer has no funds)."""
        lane = self.lanes.pick(self.nonces.busy)
        try:
            await self._simulate(lane.address, tx)
        except LostRaceError as exc:
            return self._end(attempt_id, S.LOST_RACE, f"simulation: {exc.race} ({exc.reason})")
        except NodeError as exc:
            reason = exc.reason if isinstance(exc, ExecutionRevertedError) else exc.node_message
            return self._end(attempt_id, S.SKIPPED, f"simulation_failed: {reason}")
        self.store.advance(attempt_id, S.SIMULATED, sender=lane.address)
        try:
            tip, max_fee = await self._bid(tx)
        except FeeBudgetError as exc:
            return self._end(attempt_id, S.SKIPPED, str(exc))
        head = await self._head()
        nonce = await self.nonces.take(lane.address, payload_key(tx.to, tx.data, tx.value))
        signed = lane.sign(self._fields(tx.to, tx.data, tx.value, tx.gas_limit, nonce, tip, max_fee))
        try:  # recorded before anything leaves this process (the signed bytes first: see recover.py)
            self._record(attempt_id, lane.address, signed, "original")
            self.store.advance(attempt_id, S.SUBMITTED, tx_hash=signed.hash, nonce=nonce, sender=lane.address)
        except BaseException:
            self.nonces.book(lane.address).release(nonce)
            raise
        flight = InFlight(attempt_id, lane.address, nonce, [Candidate(signed, "original", head)],
                          public=not self.route.private, last_action_block=head)  # fmt: skip
        try:
            sent = await self.route.send(signed.raw)
        except NodeError as exc:
            return await self._refused(flight, lane, exc)
        if not sent.accepted:  # maybe in a pool: keep the nonce, track, and send the same bytes again
            flight.notes.append(sent.detail)
            flight.resend = True
        flight.public = flight.public or sent.route == "public"
        return await self.track(flight, tx)

    async def track(self, flight: InFlight, tx: LiquidationTx, pricer: Pricer | None = None) -> SendResult:
        """Track a broadcast nonce to its end (also what recovery resumes after a restart). `pricer`
        overrides the sender's for the realized profit."""
        outcome = await self.tracker.wait(
            flight,
            on_pending=lambda f, h: self._on_pending(f, h, tx),
            on_reorg=self._on_reorg,
            included_fields=lambda r, c: self._included(flight, tx, r, c, pricer),
        )
        self.nonces.book(flight.sender).done(flight.nonce)
        return await self._finish(flight, outcome, tx)

    def _record(self, attempt_id: int, sender: str, signed: SignedTx, kind: CandidateKind) -> None:
        record_tx(self.store, attempt_id, tx_hash=signed.hash, nonce=signed.nonce, sender=sender, kind=kind,
                  raw=signed.raw)  # fmt: skip

    # ---- before sending ----------------------------------------------------------------------------------

    async def _simulate(self, sender: str, tx: LiquidationTx) -> None:
        call = {"from": sender, "to": tx.to, "data": "0x" + tx.data.hex(), "value": hex(tx.value),
                "gas": hex(tx.gas_limit)}  # fmt: skip
        await retrying(lambda: rpc(self.client, "eth_call", call, "latest"))

    async def _bid(self, tx: LiquidationTx) -> tuple[int, int]:
        base = tx.next_base_fee if tx.next_base_fee is not None else await self._next_base_fee()
        bid = fee_bid(base, tx.gas_limit, tx.gas_budget_wei, tx.profit_share, tx.priority_cap_wei)
        worst = bid.max_fee_per_gas * tx.gas_limit
        if worst > tx.gas_budget_wei:  # the check the whole budget rests on, right before signing
            raise FeeBudgetError(f"gas budget: max fee × gas limit = {worst} > {tx.gas_budget_wei} wei")
        if bid.max_fee_per_gas < base:
            raise FeeBudgetError(
                f"gas budget: {tx.gas_budget_wei} wei cannot pay base fee {base} × {tx.gas_limit} gas"
            )
        return bid.max_priority_fee_per_gas, bid.max_fee_per_gas

    async def _next_base_fee(self) -> int:
        hist = await retrying(lambda: rpc(self.client, "eth_feeHistory", "0x1", "latest", []))
        return int(hist["baseFeePerGas"][-1], 16)

    def _fields(
        self, to: str, data: bytes, value: int, gas: int, nonce: int, tip: int, max_fee: int
    ) -> dict[str, Any]:
        return {"type": 2, "chainId": self.client.chain_id, "nonce": nonce, "to": to_checksum_address(to),
                "value": value, "data": data, "gas": gas, "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip}  # fmt: skip

    def _end(self, attempt_id: int, status: AttemptStatus, reason: str, **fields: Any) -> SendResult:
        log.info("attempt ended", attempt=attempt_id, status=status.value, reason=reason)
        return SendResult(self.store.advance(attempt_id, status, reason=reason, **fields))

    # ---- the node said no --------------------------------------------------------------------------------

    async def _refused(self, flight: InFlight, lane: SignerLane, exc: NodeError) -> SendResult:
        book = self.nonces.book(lane.address)
        why = f"refused by the node: {exc.node_message}"
        if isinstance(exc, NonceTooLowError | ReplacementUnderpricedError):
            # Our count was behind: the nonce is used, or held by a transaction not sent from here.
            book.done(flight.nonce)
            synced = await self.nonces.resync(lane.address)
            why += f" (nonce {flight.nonce}; lane resynced to {synced})"
        elif book.release(flight.nonce):  # later nonces of ours wait on this one: fill the gap
            await self._fill_gap(lane, flight.nonce, flight.attempt_id)
        if isinstance(exc, NonceTooHighError):
            why += f" (lane resynced to {await self.nonces.resync(lane.address)})"
        result = self._end(flight.attempt_id, S.FAILED, why, tx_hash=None, nonce=None)
        if isinstance(exc, StopError):
            raise exc
        return result

    async def _fill_gap(self, lane: SignerLane, nonce: int, attempt_id: int) -> None:
        base = await self._next_base_fee()
        tip = max(1, base // 10)
        cancel = lane.sign(self._fields(lane.address, b"", 0, CANCEL_GAS, nonce, tip, 2 * base + tip))
        self._record(attempt_id, lane.address, cancel, "cancel")
        try:
            await self.route.send(cancel.raw, public=True)
        except NodeError as exc:
            log.error("cannot fill a nonce gap: later transactions of this signer wait", signer=lane.address,
                      nonce=nonce, error=exc.node_message)  # fmt: skip

    # ---- while pending -----------------------------------------------------------------------------------

    async def _on_pending(self, flight: InFlight, head: int, tx: LiquidationTx) -> None:
        last = flight.latest
        if flight.resend:
            flight.resend = False
            await self._rebroadcast(flight, last, public=flight.public)
            return
        waited = head - flight.last_action_block
        relay_late = waited >= self.route.fallback_after_blocks and self.route.fallback == "public"
        if not flight.public and relay_late:
            flight.public, flight.last_action_block = True, head
            flight.notes.append(f"not included via the relay after {waited} blocks: sent publicly")
            await self._rebroadcast(flight, last, public=True)
            return
        if waited < self.policy.stuck_after_blocks:
            return
        flight.last_action_block = head
        if flight.replacements >= self.policy.max_replacements:
            await self._rebroadcast(flight, last, public=flight.public)
            return
        lane = self.lanes.get(flight.sender)
        tip, max_fee = replacement_fees(last.tx.max_priority_fee_per_gas, last.tx.max_fee_per_gas,
                                        await self._next_base_fee(), self.policy.bump)  # fmt: skip
        kind: CandidateKind = "replacement"
        to, data, value, gas = tx.to, tx.data, tx.value, tx.gas_limit
        if last.kind == "cancel" or max_fee * tx.gas_limit > tx.gas_budget_wei:
            # The bump no longer fits the budget: give the nonce up with a 0-value self-transfer.
            kind, to, data, value, gas = "cancel", flight.sender, b"", 0, CANCEL_GAS
        try:
            self.nonces.book(flight.sender).check(
                flight.nonce, CANCEL if kind == "cancel" else payload_key(to, data, value)
            )
        except NonceConflictError:  # a later nonce of this signer was mined meanwhile, so this one is too
            return
        fields = self._fields(to, data, value, gas, flight.nonce, tip, max_fee)
        signed = lane.sign(fields)
        self._record(flight.attempt_id, flight.sender, signed, kind)
        flight.candidates.append(Candidate(signed, kind, head))
        flight.replacements += 1
        log.info("stuck transaction bumped", attempt=flight.attempt_id, kind=kind, nonce=flight.nonce,
                 tx=signed.hash, max_fee=max_fee, tip=tip)  # fmt: skip
        await self._rebroadcast(flight, flight.latest, public=flight.public)

    async def _rebroadcast(self, flight: InFlight, cand: Candidate, *, public: bool) -> None:
        if not cand.tx.raw:  # recovered from a row written before signed bytes were stored: only a hash
            return
        try:
            await self.route.send(cand.tx.raw, public=public)
        except (NonceTooLowError, ReplacementUnderpricedError) as exc:
            # Mined meanwhile (the tracker will see it), or a higher bump is needed (next round).
            flight.notes.append(f"{cand.kind} {cand.tx.hash}: {exc.node_message}")
        except NodeError as exc:
            log.warning(
                "rebroadcast refused", attempt=flight.attempt_id, tx=cand.tx.hash, error=exc.node_message
            )

    async def _on_reorg(self, flight: InFlight, cand: Candidate) -> None:
        # Nodes put reorged transactions back in their pool, but not every node, and anvil does not.
        await self._rebroadcast(flight, cand, public=flight.public)

    # ---- the end -----------------------------------------------------------------------------------------

    def _included(
        self,
        flight: InFlight,
        tx: LiquidationTx,
        receipt: dict[str, Any],
        cand: Candidate,
        pricer: Pricer | None = None,
    ) -> dict[str, Any]:
        fields = {"tx_hash": cand.tx.hash, "nonce": flight.nonce, **receipt_fields(receipt)}
        pricer = pricer or self.pricer
        if pricer is not None:
            realized = self._realized_of(receipt, flight, tx)
            try:
                usd = pricer(realized)
            except Exception as exc:  # the engine's callback: the inclusion is recorded even if it fails
                log.warning("realized profit not priced", attempt=flight.attempt_id, realized=realized,
                            error=f"{type(exc).__name__}: {exc}")  # fmt: skip
                usd = None
            if usd is not None:
                fields["realized_profit_usd"] = usd
        return fields

    async def _finish(self, flight: InFlight, outcome: Outcome, tx: LiquidationTx) -> SendResult:
        hashes = tuple(c.tx.hash for c in flight.candidates)
        route = "public" if flight.public else "relay"
        if outcome.kind == "consumed" or outcome.receipt is None or outcome.candidate is None:
            why = f"nonce {flight.nonce} of {flight.sender} was used by a transaction that is not ours"
            return SendResult(self._advance_end(flight, S.FAILED, why), None, {}, hashes, route)
        receipt, cand = outcome.receipt, outcome.candidate
        status = int(str(receipt["status"]), 16)
        if cand.kind == "cancel":
            why = f"cancelled: nonce {flight.nonce} went to the 0-value self-transfer {cand.tx.hash}"
            row = self._advance_end(flight, S.FAILED, why, **receipt_fields(receipt))
            return SendResult(row, receipt, {}, hashes, route)
        realized = self._realized_of(receipt, flight, tx)
        if status == 1:  # the tracker wrote `included` (and would have undone it on a reorg)
            return SendResult(self.store.get(flight.attempt_id), receipt, realized, hashes, route)
        exc = await self._mined_revert(cand, receipt)
        end = S.LOST_RACE if isinstance(exc, LostRaceError) else S.REVERTED
        why = f"reverted on chain: {exc.race} ({exc.reason})" if isinstance(exc, LostRaceError) else (
            f"reverted on chain: {exc.reason}")  # fmt: skip
        row = self._advance_end(flight, end, why, tx_hash=cand.tx.hash, **receipt_fields(receipt))
        return SendResult(row, receipt, realized, hashes, route)

    def _advance_end(self, flight: InFlight, status: AttemptStatus, reason: str, **fields: Any) -> Attempt:
        if flight.notes:
            reason += " [" + "; ".join(flight.notes) + "]"
        log.info("attempt ended", attempt=flight.attempt_id, status=status.value, reason=reason)
        return self.store.advance(flight.attempt_id, status, reason=reason, **fields)

    async def _mined_revert(self, cand: Candidate, receipt: Mapping[str, Any]) -> ExecutionRevertedError:
        """Why a mined transaction reverted: its trace where the node has one (exact), else a replay with
        eth_call at its block (the state after it: what a lost race looks like)."""
        try:
            trace = await retrying(
                lambda: rpc(self.client, "debug_traceTransaction", cand.tx.hash, {"tracer": "callTracer"})
            )
        except NodeError:  # no debug namespace here
            trace = None
        if isinstance(trace, dict) and ("output" in trace or "error" in trace):
            exc = reverted(trace.get("output"))
            if exc.revert.kind == "empty" and trace.get("error"):  # e.g. out of gas: no revert data
                error = str(trace["error"])
                exc = ExecutionRevertedError(error, None, decode_revert(None, "execution reverted: " + error))
            return exc
        tx = await retrying(lambda: rpc(self.client, "eth_getTransactionByHash", cand.tx.hash))
        call = {k: tx[k] for k in ("from", "to", "value", "gas") if tx.get(k) is not None}
        call["data"] = tx.get("input") or tx.get("data") or "0x"
        try:
            await retrying(lambda: rpc(self.client, "eth_call", call, receipt["blockNumber"]))
        except ExecutionRevertedError as replay:
            return replay
        return ExecutionRevertedError("reverted on chain; a replay at its block succeeds, no reason known")

    def _realized_of(self, receipt: Mapping[str, Any], flight: InFlight, tx: LiquidationTx) -> dict[str, int]:
        account = tx.profit_account or flight.sender
        return {t: realized_profit(receipt.get("logs") or [], t, account) for t in tx.profit_tokens}

    async def _head(self) -> int:
        return int(await retrying(lambda: rpc(self.client, "eth_blockNumber")), 16)
