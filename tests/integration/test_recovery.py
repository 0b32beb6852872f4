"""Recovery after a crash, on the devnet with real signed transactions, on SQLite and PostgreSQL.

A crash is a real TxSender's task cancelled at the moment under test (its process would have died there:
nothing after that point runs); recovery then runs with a new client, sender and nonce books, as after a
restart."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from liqbot.chain.client import ChainClient
from liqbot.chain.nonces import payload_key
from liqbot.chain.signer import SignerLanes
from liqbot.execution.recover import INTERRUPTED, Recovery, recover
from liqbot.execution.relay import Route, Sent
from liqbot.execution.sender import SendResult, TxSender
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import ANVIL_ACCOUNTS, DevnetRpc
from liqbot.store import Attempt, AttemptStatus, Store, attempt_txs, open_store, record_tx
from liqbot.store.db import make_engine

from .test_sender import CHAIN_ID, GWEI, automine_off, dev_key, mining, mint_tx, policy, until, usdc

pytestmark = pytest.mark.devnet
S = AttemptStatus
PG_ENV = "LIQBOT_TEST_POSTGRES_URL"
_blocks = itertools.count(50_000)
_schemas = itertools.count()
ME = ANVIL_ACCOUNTS[6]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'recover.db'}")
        yield s
        s.close()
        return
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    admin = make_engine(url)
    schema = f"liqbot_recover_{secrets.token_hex(4)}_{next(_schemas)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    s = open_store(
        admin.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    )
    try:
        yield s
    finally:
        s.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def attempt(store: Store, token: str, *, mode: str = "funds", chain_id: int = CHAIN_ID) -> int:
    """A decision whose profit token is `token` (what the mint payloads pay the signer)."""
    return store.record_detected(
        chain_id=chain_id, protocol="aave_v3", market="0x" + "aa" * 20, borrower=ANVIL_ACCOUNTS[9],
        mode=mode, collateral_asset=token, debt_asset=token, debt_to_cover=1, expected_seized=1,
        expected_profit_usd=Decimal(10), detected_block=next(_blocks),
    )  # fmt: skip


def new_sender(url: str, store: Store, route: type[Route] = Route, **pol: Any) -> TxSender:
    client = ChainClient(url, CHAIN_ID)
    return TxSender(
        client, store, SignerLanes.from_keys([dev_key(6)]), policy=policy(**pol), route=route(client)
    )


def pricer_of(token: str) -> Any:
    return lambda r: Decimal(r[token.lower()]) / 10**6  # recovery names tokens as the row has them


async def crash(task: asyncio.Task[SendResult]) -> None:
    """The process dies here: nothing after this point of the send runs."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def in_pool(client: ChainClient, tx_hash: str) -> dict[str, Any] | None:
    tx: dict[str, Any] | None = await client.request("eth_getTransactionByHash", tx_hash)
    return tx if tx is not None and tx.get("blockNumber") is None else None


async def submitted(store: Store, aid: int) -> Attempt | None:
    row = store.get(aid)
    return row if row.status is S.SUBMITTED else None


async def finish(rec: Recovery) -> list[SendResult]:
    return [await task for _, task in rec.resumed]


async def receipt(client: ChainClient, tx_hash: str) -> dict[str, Any]:
    got: dict[str, Any] = await client.request("eth_getTransactionReceipt", tx_hash)
    return got


# ---- mined before the restart ----------------------------------------------------------------------------


def test_mined_original_is_recorded_included(devnet: manager.Devnet, chain: DevnetRpc, store: Store) -> None:
    token = usdc(devnet)
    aid = attempt(store, token)

    async def go() -> tuple[Recovery, list[SendResult], dict[str, Any]]:
        first = new_sender(chain.url, store)
        with automine_off(chain):
            task = asyncio.create_task(first.send_liquidation(aid, mint_tx(token, 4_321)))
            row = await until(lambda: submitted(store, aid))
            assert row.tx_hash is not None
            await until(lambda: in_pool(first.client, str(row.tx_hash)))
            await crash(task)
            await first.client.request("evm_mine")  # mined while the bot is down
        again = new_sender(chain.url, store)
        rec = await recover(again, CHAIN_ID, pricer=pricer_of(token))
        async with mining(chain.url):
            done = await finish(rec)
        rcpt = await receipt(again.client, str(row.tx_hash))
        await first.client.close()
        await again.client.close()
        return rec, done, rcpt

    rec, done, rcpt = asyncio.run(go())
    assert [r.id for r, _ in rec.resumed] == [aid] and rec.ended == []
    row = store.get(aid)
    assert done[0].status is S.INCLUDED and row.status is S.INCLUDED
    assert row.tx_hash == rcpt["transactionHash"] and row.included_block == int(rcpt["blockNumber"], 16)
    assert row.gas_used == int(rcpt["gasUsed"], 16)
    assert row.effective_gas_price == int(rcpt["effectiveGasPrice"], 16)
    assert row.realized_profit_usd == Decimal(4_321) / 10**6  # from the receipt's Transfer log


def test_mined_replacement_is_found_by_its_stored_hash(
    devnet: manager.Devnet, chain: DevnetRpc, store: Store
) -> None:
    """A low bid sticks, the sender signs a replacement (stored before its broadcast, checked at every send),
    the bot dies, the replacement is mined: recovery finds it, though the row still names the original."""
    token = usdc(devnet)
    aid = attempt(store, token)
    broadcasts: list[tuple[str, set[str]]] = []

    class Watching(Route):
        async def send(self, raw: bytes, *, public: bool = False) -> Sent:
            broadcasts.append(("0x" + keccak(raw).hex(), {t.tx_hash for t in attempt_txs(store, aid)}))
            return await super().send(raw, public=public)

    low = mint_tx(token, 99, next_base_fee=GWEI, priority_cap_wei=GWEI // 4, gas_limit=100_000,
                  gas_budget_wei=100_000 * 20 * GWEI)  # fmt: skip
    before = int(chain.call("eth_feeHistory", "0x1", "latest", [])["baseFeePerGas"][-1], 16)
    chain.call("anvil_setNextBlockBaseFeePerGas", hex(GWEI))
    chain.mine()

    async def go() -> tuple[list[SendResult], str, str]:
        first = new_sender(chain.url, store, Watching, stuck_after_blocks=1)
        c = first.client
        with automine_off(chain):
            task = asyncio.create_task(first.send_liquidation(aid, low))
            row = await until(lambda: submitted(store, aid))
            original = str(row.tx_hash)
            await until(lambda: in_pool(c, original))
            for _ in range(40):  # empty blocks at a 4 gwei base fee: the low bid is stuck, then replaced
                await c.request("anvil_setNextBlockBaseFeePerGas", hex(4 * GWEI))
                await c.request("evm_mine")
                await asyncio.sleep(0.15)
                txs = attempt_txs(store, aid)
                if len(txs) >= 2 and await in_pool(c, txs[-1].tx_hash):
                    break
            await crash(task)
            replacement = attempt_txs(store, aid)[-1]
            assert replacement.kind == "replacement" and store.get(aid).status is S.SUBMITTED
            await c.request("anvil_setNextBlockBaseFeePerGas", hex(4 * GWEI))
            await c.request("evm_mine")
        again = new_sender(chain.url, store)
        rec = await recover(again, CHAIN_ID, pricer=pricer_of(token))
        async with mining(chain.url, base_fee=4 * GWEI):
            done = await finish(rec)
        await c.close()
        await again.client.close()
        return done, original, replacement.tx_hash

    try:
        done, original, replacement = asyncio.run(go())
    finally:
        chain.call("anvil_setNextBlockBaseFeePerGas", hex(before))
        chain.mine()
    assert all(h in stored for h, stored in broadcasts), "a hash was broadcast before it was stored"
    assert {h for h, _ in broadcasts} >= {original, replacement}
    row = store.get(aid)
    assert done[0].status is S.INCLUDED and row.status is S.INCLUDED
    assert row.tx_hash == replacement != original
    assert row.realized_profit_usd == Decimal(99) / 10**6


def test_nonce_taken_by_a_foreign_transaction_ends_failed(
    devnet: manager.Devnet, chain: DevnetRpc, store: Store
) -> None:
    token = usdc(devnet)
    aid = attempt(store, token)

    async def go() -> list[SendResult]:
        first = new_sender(chain.url, store)
        c = first.client
        with automine_off(chain):
            task = asyncio.create_task(first.send_liquidation(aid, mint_tx(token, 5)))
            row = await until(lambda: submitted(store, aid))
            ours = await until(lambda: in_pool(c, str(row.tx_hash)))
            await crash(task)
            # The same key used elsewhere: another transaction at our nonce, paying more, replaces ours.
            fee = int(ours["maxFeePerGas"], 16) * 3
            foreign = {"from": ME, "to": ME, "value": "0x1", "nonce": ours["nonce"], "maxFeePerGas": hex(fee),
                       "maxPriorityFeePerGas": hex(fee)}  # fmt: skip
            await c.request("eth_sendTransaction", foreign)
            await c.request("evm_mine")
        again = new_sender(chain.url, store)
        rec = await recover(again, CHAIN_ID)
        async with mining(chain.url):
            done = await finish(rec)
        assert await receipt(c, str(row.tx_hash)) is None
        await c.close()
        await again.client.close()
        return done

    done = asyncio.run(go())
    row = store.get(aid)
    assert done[0].status is S.FAILED and row.status is S.FAILED
    assert row.reason is not None and "was used by a transaction that is not ours" in row.reason
    assert row.included_block is None


# ---- still pending, or never sent, at the restart --------------------------------------------------------


def test_pending_is_tracked_to_inclusion_and_new_nonces_start_above_it(
    devnet: manager.Devnet, chain: DevnetRpc, store: Store
) -> None:
    token = usdc(devnet)
    aid = attempt(store, token)

    async def go() -> tuple[list[SendResult], int, int, S]:
        first = new_sender(chain.url, store)
        c = first.client
        with automine_off(chain):
            task = asyncio.create_task(first.send_liquidation(aid, mint_tx(token, 77)))
            row = await until(lambda: submitted(store, aid))
            await until(lambda: in_pool(c, str(row.tx_hash)))
            await crash(task)
            again = new_sender(chain.url, store)
            rec = await recover(again, CHAIN_ID, pricer=pricer_of(token))
            await asyncio.sleep(0.5)  # the tracker polls; nothing is mined
            waiting = store.get(aid).status
            assert not rec.resumed[0][1].done()
            nxt = await again.nonces.take(ME, payload_key(token, b"other"))  # a new send's nonce
            again.nonces.book(ME).release(nxt)
        async with mining(chain.url):  # automine back on, and blocks for the confirmation
            done = await finish(rec)
        await c.close()
        await again.client.close()
        return done, int(row.nonce or 0), nxt, waiting

    done, nonce, nxt, waiting = asyncio.run(go())
    assert waiting is S.SUBMITTED and nxt == nonce + 1
    row = store.get(aid)
    assert done[0].status is S.INCLUDED and row.status is S.INCLUDED and row.nonce == nonce
    assert row.realized_profit_usd == Decimal(77) / 10**6


def test_with_the_kill_switch_engaged_a_pending_liquidation_is_cancelled_not_sent_again(
    devnet: manager.Devnet, chain: DevnetRpc, store: Store
) -> None:
    token = usdc(devnet)
    aid = attempt(store, token)

    async def go() -> tuple[list[SendResult], str, dict[str, Any] | None]:
        first = new_sender(chain.url, store)
        c = first.client
        with automine_off(chain):
            task = asyncio.create_task(first.send_liquidation(aid, mint_tx(token, 55)))
            row = await until(lambda: submitted(store, aid))
            await until(lambda: in_pool(c, str(row.tx_hash)))
            await crash(task)
            again = new_sender(chain.url, store)
            rec = await recover(again, CHAIN_ID, pricer=pricer_of(token), stopped=True)
            # the cancel replaces the liquidation in the pool before anything is mined
            await until(lambda: _cancel_stored(store, aid))
        async with mining(chain.url):
            done = await finish(rec)
        gone = await c.request("eth_getTransactionReceipt", row.tx_hash)
        await c.close()
        await again.client.close()
        return done, str(row.tx_hash), gone

    done, liquidation, gone = asyncio.run(go())
    row = store.get(aid)
    assert done[0].status is S.FAILED and row.status is S.FAILED and "cancelled" in (row.reason or "")
    assert gone is None, "the liquidation itself was never mined"
    assert liquidation not in (row.reason or "") and row.realized_profit_usd is None  # the cancel's hash


async def _cancel_stored(store: Store, aid: int) -> bool | None:
    return True if any(t.kind == "cancel" for t in attempt_txs(store, [aid])) else None


class Unplugged(Route):
    """The process dies right after writing `submitted`, before the bytes reach the node."""

    async def send(self, raw: bytes, *, public: bool = False) -> Sent:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_submitted_but_never_broadcast_is_sent_from_the_stored_bytes(
    devnet: manager.Devnet, chain: DevnetRpc, store: Store
) -> None:
    token = usdc(devnet)
    aid = attempt(store, token)

    async def go() -> tuple[list[SendResult], dict[str, Any] | None, int]:
        first = new_sender(chain.url, store, Unplugged)
        task = asyncio.create_task(first.send_liquidation(aid, mint_tx(token, 11)))
        row = await until(lambda: submitted(store, aid))
        await asyncio.sleep(0.2)
        await crash(task)
        unknown = await first.client.request("eth_getTransactionByHash", row.tx_hash)
        count = int(await first.client.request("eth_getTransactionCount", ME, "pending"), 16)
        again = new_sender(chain.url, store)
        rec = await recover(again, CHAIN_ID)
        async with mining(chain.url):
            done = await finish(rec)
        await first.client.close()
        await again.client.close()
        return done, unknown, count

    done, unknown, count = asyncio.run(go())
    row = store.get(aid)
    assert unknown is None and row.nonce == count  # nothing had left, and the nonce was the next one
    assert done[0].status is S.INCLUDED and row.status is S.INCLUDED
    assert [t.tx_hash for t in attempt_txs(store, aid)] == [row.tx_hash]


def test_rows_that_never_reached_the_node_end_interrupted(
    devnet: manager.Devnet, chain: DevnetRpc, store: Store
) -> None:
    token = usdc(devnet)
    detected = attempt(store, token)
    simulated = attempt(store, token, mode="flash")
    store.advance(simulated, S.SIMULATED, sender=ME)
    signed_only = attempt(store, token)  # the signed bytes were stored, then the process died
    store.advance(signed_only, S.SIMULATED, sender=ME)
    shadow = attempt(store, token, mode="shadow")
    other_chain = attempt(store, token, chain_id=CHAIN_ID + 1)

    async def go() -> tuple[Recovery, int]:
        sender = new_sender(chain.url, store)
        nonce = int(await sender.client.request("eth_getTransactionCount", ME, "pending"), 16)
        lane = sender.lanes.get(ME)
        tx = lane.sign(sender._fields(token, b"\x01", 0, 50_000, nonce, GWEI, 3 * GWEI))
        sender._record(signed_only, ME, tx, "original")
        rec = await recover(sender, CHAIN_ID)
        await sender.client.close()
        return rec, nonce

    rec, nonce = asyncio.run(go())
    assert rec.resumed == [] and sorted(a.id for a in rec.ended) == sorted([detected, simulated, signed_only])
    assert store.get(detected).status is S.SKIPPED and store.get(detected).reason == INTERRUPTED
    for aid in (simulated, signed_only):
        assert store.get(aid).status is S.FAILED and store.get(aid).reason == INTERRUPTED
    assert store.get(shadow).status is S.DETECTED and store.get(other_chain).status is S.DETECTED
    assert int(chain.call("eth_getTransactionCount", ME, "pending"), 16) == nonce  # nothing was sent


def test_attempt_transactions_rows_are_exact(store: Store) -> None:
    """Hashes lowercase, raw bytes exact, one row per hash, oldest first."""
    aid = attempt(store, "0x" + "11" * 20)
    raw = bytes(range(256)) * 3
    h1, h2 = "0x" + "AB" * 32, "0x" + "cd" * 32
    record_tx(store, aid, tx_hash=h1, nonce=2**40, sender="0x" + "EE" * 20, kind="original", raw=raw)
    record_tx(store, aid, tx_hash=h1, nonce=2**40, sender="0x" + "EE" * 20, kind="original", raw=raw)
    record_tx(store, aid, tx_hash=h2, nonce=2**40, sender="0x" + "ee" * 20, kind="cancel", raw=b"\x00")
    got = attempt_txs(store, aid)
    assert [(t.tx_hash, t.kind, t.raw, t.nonce) for t in got] == [
        (h1.lower(), "original", raw, 2**40), (h2, "cancel", b"\x00", 2**40)]  # fmt: skip
    assert got[0].sender == "0x" + "ee" * 20 and got[0].created_at.tzinfo is not None
    with pytest.raises(ValueError, match="kind"):
        record_tx(store, aid, tx_hash=h2, nonce=1, sender=ME, kind="bogus", raw=b"")  # type: ignore[arg-type]


def test_a_nonce_gap_under_a_resumed_transaction_is_cancelled(
    devnet: manager.Devnet, chain: DevnetRpc, store: Store
) -> None:
    """Our stored transaction waits in the pool behind a nonce nothing of ours holds (a gap-filling cancel
    that never left, say): recovery cancels the gap, and the waiting one is mined."""
    token = usdc(devnet)
    aid = attempt(store, token)

    async def go() -> tuple[list[SendResult], int, dict[str, Any]]:
        first = new_sender(chain.url, store)
        c = first.client
        n = int(await c.request("eth_getTransactionCount", ME, "pending"), 16)
        call = mint_tx(token, 5)
        signed = first.lanes.get(ME).sign(first._fields(token, call.data, 0, call.gas_limit, n + 1, GWEI,
                                                         100 * GWEI))  # fmt: skip
        store.advance(aid, S.SIMULATED, sender=ME)
        first._record(aid, ME, signed, "original")
        store.advance(aid, S.SUBMITTED, tx_hash=signed.hash, nonce=n + 1, sender=ME)
        await c.request("eth_sendRawTransaction", "0x" + signed.raw.hex())  # queued behind nonce n
        again = new_sender(chain.url, store)
        rec = await recover(again, CHAIN_ID)
        async with mining(chain.url):
            done = await finish(rec)
        txs = attempt_txs(store, aid)
        cancel = await receipt(c, txs[-1].tx_hash)
        await c.close()
        await again.client.close()
        return done, n, cancel

    done, n, cancel = asyncio.run(go())
    row = store.get(aid)
    assert done[0].status is S.INCLUDED and row.status is S.INCLUDED and row.nonce == n + 1
    kinds = [(t.kind, t.nonce) for t in attempt_txs(store, aid)]
    assert kinds == [("original", n + 1), ("cancel", n)]
    assert cancel["status"] == "0x1" and cancel["to"].lower() == ME.lower()
