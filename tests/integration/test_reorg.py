"""Reorgs on anvil 1.7: `anvil_reorg(depth, txs)` replaces the last `depth` blocks with new ones holding
`txs` ([raw tx or request, block offset] pairs). A transaction left out is dropped — not put back in the
pool — and one put back lands in a block with another hash. Each test runs its own anvil, so the shared
devnet never sees a reorg."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liqbot.chain.client import ChainClient
from liqbot.chain.signer import SignerLanes
from liqbot.execution.sender import LiquidationTx, SendResult, TxSender
from liqbot.harness.devnet import anvil
from liqbot.harness.devnet.rpc import ANVIL_ACCOUNTS
from liqbot.store import Attempt, AttemptStatus, Store

from ..conftest import free_port_block
from .test_sender import CHAIN_ID, GWEI, dev_key, mining, new_attempt, new_store, policy, until

pytestmark = pytest.mark.devnet
S = AttemptStatus
PAYMENT = LiquidationTx(to=ANVIL_ACCOUNTS[1], data=b"", value=12_345, gas_limit=30_000,
                        gas_budget_wei=10**16, priority_cap_wei=GWEI)  # fmt: skip


@pytest.fixture
def node(npm_ready: None, tmp_path: Path) -> Iterator[anvil.AnvilProcess]:
    proc = anvil.start(free_port_block(), CHAIN_ID, tmp_path / "anvil.log")
    try:
        yield proc
    finally:
        anvil.stop(proc.pid)


class Recording(Store):
    """The real store, noting every status move in order."""

    moves: list[str]

    def advance(self, attempt_id: int, status: Any, **fields: Any) -> Attempt:
        row = super().advance(attempt_id, status, **fields)
        self.moves.append(row.status.value)
        return row

    def mark_reorged(self, attempt_id: int, **fields: Any) -> Attempt:
        row = super().mark_reorged(attempt_id, **fields)
        self.moves.append("reorged")
        return row


def recording(tmp_path: Path) -> Recording:
    store = Recording(new_store(tmp_path).engine)
    store.moves = []
    return store


async def _included(store: Store, aid: int) -> Attempt | None:
    row = store.get(aid)
    return row if row.status is S.INCLUDED else None


async def _send_then_reorg(node: anvil.AnvilProcess, store: Recording, reinclude: bool) -> tuple[Any, ...]:
    """Send, wait for `included` (3 confirmations are still to come, and no block is mined meanwhile),
    reorg the inclusion block away, then mine until the sender is done."""
    aid = new_attempt(store)
    client = ChainClient(node.url, CHAIN_ID)
    sender = TxSender(client, store, SignerLanes.from_keys([dev_key(6)]), policy=policy(confirmations=3))
    task = asyncio.create_task(sender.send_liquidation(aid, PAYMENT))
    first = await until(lambda: _included(store, aid))
    assert first.tx_hash is not None and first.included_block is not None
    receipt = await client.request("eth_getTransactionReceipt", first.tx_hash)
    head = await client.block_number()
    assert not task.done()
    txs = [[await client.request("eth_getRawTransactionByHash", first.tx_hash), 0]] if reinclude else []
    await client.request("anvil_reorg", head - first.included_block + 1, txs)
    async with mining(node.url, every=0.1):
        res: SendResult = await task
    sends = client.calls["eth_sendRawTransaction"]
    await client.close()
    return first, receipt, res, sends


def test_dropped_by_a_reorg_goes_back_to_submitted_and_lands_again(
    node: anvil.AnvilProcess, tmp_path: Path
) -> None:
    store = recording(tmp_path)
    first, receipt, res, sends = asyncio.run(_send_then_reorg(node, store, reinclude=False))
    assert store.moves == ["simulated", "submitted", "included", "reorged", "included"]
    row = res.attempt
    assert res.status is S.INCLUDED and row.reorg_count == 1
    assert row.tx_hash == first.tx_hash and row.nonce == first.nonce  # the same signed transaction
    assert sends == 2  # anvil drops reorged transactions, so the sender broadcast the same bytes again
    assert res.receipt is not None and res.receipt["blockHash"] != receipt["blockHash"]
    assert row.included_block == int(res.receipt["blockNumber"], 16) > first.included_block


def test_moved_to_another_block_is_re_recorded(node: anvil.AnvilProcess, tmp_path: Path) -> None:
    store = recording(tmp_path)
    first, receipt, res, sends = asyncio.run(_send_then_reorg(node, store, reinclude=True))
    assert store.moves == ["simulated", "submitted", "included", "reorged", "included"]
    row = res.attempt
    assert res.status is S.INCLUDED and row.reorg_count == 1 and sends == 1
    assert res.receipt is not None
    assert res.receipt["blockHash"] != receipt["blockHash"]  # same height, another block
    assert row.included_block == first.included_block == int(receipt["blockNumber"], 16)


def test_no_reorg_no_move_back(node: anvil.AnvilProcess, tmp_path: Path) -> None:
    """The control: the same flow without a reorg records each status once."""
    store = recording(tmp_path)
    aid = new_attempt(store)

    async def go() -> SendResult:
        client = ChainClient(node.url, CHAIN_ID)
        sender = TxSender(client, store, SignerLanes.from_keys([dev_key(6)]), policy=policy(confirmations=3))
        async with mining(node.url, every=0.1):
            res = await sender.send_liquidation(aid, PAYMENT)
        head = await client.block_number()
        await client.close()
        assert res.attempt.included_block is not None and head - res.attempt.included_block >= 3
        return res

    res = asyncio.run(go())
    assert store.moves == ["simulated", "submitted", "included"] and res.attempt.reorg_count == 0
