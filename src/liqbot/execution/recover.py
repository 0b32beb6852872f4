"""After a crash (SIGKILL, power loss): bring every unfinished attempt of a chain to its true end.

The sender writes in this order: signed bytes (attempt_transactions) → row `submitted` → broadcast. So:

- `detected` / `simulated` rows were never broadcast: they end `skipped` / `failed`, "interrupted before
  sending". (A signed transaction stored for a `simulated` row never left the process; its nonce is free.)
- `submitted` rows may be anywhere: never sent, in a pool, mined, or their nonce used by another transaction.
  Each resumes in the sender's own tracker with every hash stored for its nonce: a receipt of any of them
  ends it (included with the receipt's facts and realized profit / reverted / lost_race, decoded as the
  sender does); the account's mined nonce passing it with none of our hashes mined ends it `failed`; while
  pending, the newest stored bytes are broadcast again, and once stuck the nonce is cancelled (a recovered
  liquidation is never re-bid above the fees it was signed with).

Before any new nonce is taken, each signer's nonce book is synced from the node's pending count and then
held above every nonce a resumed transaction may hold, so no nonce is ever used twice; a nonce under a
resumed one that nothing of ours holds is filled with a cancel.

With the kill switch engaged (`stopped=True`) no liquidation leaves again: a pending one is replaced at once
by a 0-value self-transfer at its nonce (the one thing worth sending when nothing may be sent), so its row
ends `failed` (cancelled) or, if the liquidation was mined first, with the receipt's truth."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import structlog
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

from liqbot.chain.errors import retrying, rpc
from liqbot.chain.nonces import CANCEL, payload_key
from liqbot.chain.signer import SignedTx
from liqbot.core.errors import InvalidTransition
from liqbot.execution.receipts import Candidate, InFlight
from liqbot.execution.sender import CANCEL_GAS, LiquidationTx, Pricer, SendResult, TxSender
from liqbot.store import Attempt, AttemptMode, AttemptStatus, AttemptTx, attempt_txs
from liqbot.strategy.gates import PricePoint
from liqbot.strategy.pricing import usd

log = structlog.get_logger("liqbot.recover")
S = AttemptStatus
INTERRUPTED = "interrupted before sending"
ZERO = "0x" + "00" * 20


@dataclass
class Recovery:
    ended: list[Attempt] = field(default_factory=list)  # ended at once: nothing had been broadcast
    resumed: list[tuple[Attempt, asyncio.Task[SendResult]]] = field(default_factory=list)  # being tracked


async def recover(
    sender: TxSender,
    chain_id: int,
    *,
    profit_account: str | None = None,
    pricer: Pricer | None = None,
    stopped: bool = False,
) -> Recovery:
    """End or resume every unfinished sending-mode attempt of `chain_id`. Returns once the nonce books are
    safe; resumed rows are tracked by the returned tasks (await them, or cancel: the rows stay submitted)."""
    store, out = sender.store, Recovery()
    rows = [
        r
        for r in store.iter(chain_id, [S.DETECTED, S.SIMULATED, S.SUBMITTED], oldest_first=True)
        if r.mode is not AttemptMode.SHADOW
    ]
    stored: dict[int, list[AttemptTx]] = defaultdict(list)
    for t in attempt_txs(store, [r.id for r in rows if r.status is S.SUBMITTED]):
        stored[t.attempt_id].append(t)
    head = int(await retrying(lambda: rpc(sender.client, "eth_blockNumber")), 16)
    flights: list[tuple[Attempt, InFlight, LiquidationTx]] = []
    for row in rows:
        if row.status is S.SUBMITTED and row.nonce is not None and row.sender is not None:
            flights.append((row, *_resume(sender, row, stored[row.id], head, profit_account, stopped)))
        else:  # nothing left this process (or, impossible by the write order, a row without a nonce)
            ended = _end(sender, row)
            if ended is not None:
                out.ended.append(ended)
    for address in sorted({f.sender for _, f, _ in flights}):
        await sender.nonces.resync(address)
    for _, flight, tx in flights:
        payload = CANCEL if not flight.latest.tx.raw else payload_key(tx.to, tx.data, tx.value)
        sender.nonces.book(flight.sender).hold(flight.nonce, payload)
    for address in sorted({f.sender for _, f, _ in flights}):
        await _fill_gaps(sender, address, sorted((f.nonce, f.attempt_id) for _, f, _ in flights
                                                 if f.sender == address))  # fmt: skip
    for row, flight, tx in flights:
        log.info("resuming a transaction sent before a restart", attempt=row.id, sender=flight.sender,
                 nonce=flight.nonce, hashes=[c.tx.hash for c in flight.candidates])  # fmt: skip
        task = asyncio.create_task(sender.track(flight, tx, pricer), name=f"recover-{row.id}")
        out.resumed.append((row, task))
    if rows:
        log.info("recovery", chain_id=chain_id, ended=len(out.ended), resumed=len(out.resumed))
    return out


async def _fill_gaps(sender: TxSender, address: str, held: list[tuple[int, int]]) -> None:
    """A nonce under a resumed one that none of ours holds (e.g. a gap-filling cancel that was signed but
    never sent) would keep it, and every later nonce, out of blocks forever: cancel it. The cancel is stored
    under the attempt waiting above it."""
    mined = await sender.nonces.mined_count(address)
    ours = {n for n, _ in held}
    for gap in range(mined, held[-1][0]):
        if gap in ours:
            continue
        waiting = next(aid for n, aid in held if n > gap)
        try:
            lane = sender.lanes.get(address)
        except KeyError:
            log.error("nonce gap under a resumed transaction, and its key is not configured: later "
                      "transactions of this signer wait", signer=address, nonce=gap)  # fmt: skip
            return
        log.warning("filling a nonce gap under a resumed transaction", signer=address, nonce=gap,
                    attempt=waiting)  # fmt: skip
        await sender._fill_gap(lane, gap, waiting)


def _end(sender: TxSender, row: Attempt) -> Attempt | None:
    status = S.SKIPPED if row.status is S.DETECTED else S.FAILED
    reason = INTERRUPTED if row.status is not S.SUBMITTED else "interrupted: submitted without a nonce"
    try:
        ended = sender.store.advance(row.id, status, reason=reason)
    except InvalidTransition as exc:  # another process moved it meanwhile: its end stands
        log.warning("recovery left an attempt alone", attempt=row.id, error=str(exc))
        return None
    log.info("attempt ended", attempt=row.id, status=status.value, reason=reason)
    return ended


def _resume(
    sender: TxSender,
    row: Attempt,
    txs: list[AttemptTx],
    head: int,
    profit_account: str | None,
    stopped: bool = False,
) -> tuple[InFlight, LiquidationTx]:
    assert row.nonce is not None and row.sender is not None
    nonce, who = row.nonce, row.sender
    cands = [Candidate(_signed(t), t.kind, head) for t in txs if t.nonce == nonce]
    if row.tx_hash is not None and all(c.tx.hash != row.tx_hash for c in cands):
        # Written before signed bytes were stored: the hash can be looked for, not broadcast again.
        cands.insert(0, Candidate(SignedTx(b"", row.tx_hash, nonce, 0, 0, 0), "original", head))
    profit = (row.debt_asset,) if row.debt_asset != ZERO else ()
    calls = [c for c in cands if c.kind != "cancel" and c.tx.raw]
    if calls and not stopped:
        fields = TypedTransaction.from_bytes(HexBytes(calls[0].tx.raw)).as_dict()
        top = calls[-1].tx
        # The budget is what the newest call was signed for: a stuck one is cancelled, never re-bid higher.
        tx = LiquidationTx(
            to="0x" + bytes(fields["to"]).hex(), data=bytes(fields["data"]), gas_limit=int(fields["gas"]),
            gas_budget_wei=top.max_fee_per_gas * top.gas_limit, priority_cap_wei=top.max_priority_fee_per_gas,
            value=int(fields["value"]), profit_tokens=profit, profit_account=profit_account,
        )  # fmt: skip
    else:  # only a hash (or only a cancel): watch it, and cancel the nonce if it is stuck
        tx = LiquidationTx(to=who, data=b"", gas_limit=CANCEL_GAS, gas_budget_wei=0, priority_cap_wei=0,
                           profit_tokens=profit, profit_account=profit_account)  # fmt: skip
    flight = InFlight(row.id, who, nonce, cands, public=not sender.route.private, last_action_block=head,
                      replacements=sum(c.kind != "original" for c in cands))  # fmt: skip
    flight.resend = bool(flight.latest.tx.raw)  # the node may have lost it, or it was never sent
    if stopped and calls:  # kill switch: never broadcast the liquidation again; cancel its nonce at once
        flight.resend = False
        flight.last_action_block = head - sender.policy.stuck_after_blocks
        flight.replacements = min(flight.replacements, sender.policy.max_replacements - 1)  # room to cancel
    try:
        sender.lanes.get(who)
    except KeyError:  # its key is not configured any more: no cancel possible, only the stored bytes
        flight.replacements = sender.policy.max_replacements
    return flight, tx


def _signed(t: AttemptTx) -> SignedTx:
    f = TypedTransaction.from_bytes(HexBytes(t.raw)).as_dict()
    return SignedTx(t.raw, t.tx_hash, t.nonce, int(f["maxFeePerGas"]), int(f["maxPriorityFeePerGas"]),
                    int(f["gas"]))  # fmt: skip


def usd_pricer(prices: Mapping[str, PricePoint], decimals: Mapping[str, int]) -> Pricer:
    """Realized profit in USD at these feed prices (None if a token has none): for inclusions found at
    start-up, before the engine has facts of its own."""

    def price(amounts: Mapping[str, int]) -> Decimal | None:
        total = Decimal(0)
        for token, units in amounts.items():
            p, dec = prices.get(token.lower()), decimals.get(token.lower())
            if p is None or dec is None:
                return None
            total += usd(units, p.answer, dec) if units >= 0 else -usd(-units, p.answer, dec)
        return total

    return price
