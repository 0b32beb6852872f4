"""The private-relay route, with a relay of our own: a small JSON-RPC proxy on 127.0.0.1 that records every
eth_sendRawTransaction and either forwards it to the devnet, holds it, or answers with an error.

Why not a second anvil as the relay: anvil cannot forward a transaction anywhere. A second anvil forked from
the devnet (`--fork-url`) would mine the transaction on its own fork, where the public chain never sees it —
that models a relay that swallows transactions (the fallback case below covers that), not one that reaches
the chain. The proxy lets each test choose, and shows what the relay received."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
from aiohttp import web
from eth_utils import keccak

from liqbot.chain.client import ChainClient
from liqbot.chain.errors import InsufficientFundsError
from liqbot.chain.signer import SignerLanes
from liqbot.execution.relay import Route
from liqbot.execution.sender import SendResult, TxSender
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import ANVIL_ACCOUNTS, DevnetRpc
from liqbot.store import AttemptStatus, Store

from ..conftest import free_port_block
from .test_sender import CHAIN_ID, dev_key, mining, mint_tx, new_attempt, new_store, policy, until, usdc

pytestmark = pytest.mark.devnet
S = AttemptStatus
Mode = Literal["forward", "hold", "refuse"]


class Relay:
    def __init__(self, upstream: str, mode: Mode) -> None:
        self.upstream, self.mode = upstream, mode
        self.received: list[str] = []
        self.heads: list[int] = []  # the chain's head when each one arrived
        self.held: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if body.get("method") == "eth_sendRawTransaction":
            raw = str(body["params"][0])
            self.received.append(raw)
            head = await self._forward({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []})
            self.heads.append(int(head["result"], 16))
            if self.mode == "hold":
                self.held.append(raw)
                return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": _hash(raw)})
            if self.mode == "refuse":
                error = {"code": -32000, "message": "bundle rejected by relay policy"}
                return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})
        return web.json_response(await self._forward(body))

    async def release(self) -> None:
        """Hand what we held to the chain (what a builder would do)."""
        for i, raw in enumerate(self.held):
            await self._forward(
                {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
            )
        self.held.clear()

    async def _forward(self, body: dict[str, Any]) -> Any:
        async with aiohttp.ClientSession() as session, session.post(self.upstream, json=body) as resp:
            return await resp.json()


def _hash(raw: str) -> str:
    return "0x" + keccak(bytes.fromhex(raw.removeprefix("0x"))).hex()


@contextlib.asynccontextmanager
async def serving(relay: Relay) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/", relay.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port_block()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _sender(chain: DevnetRpc, store: Store, relay_url: str, key: int, **route: Any) -> TxSender:
    client = ChainClient(chain.url, CHAIN_ID)
    relay = ChainClient(relay_url, CHAIN_ID, timeout=2.0)
    lanes = SignerLanes.from_keys([dev_key(key)])
    return TxSender(
        client, store, lanes, policy=policy(stuck_after_blocks=100), route=Route(client, relay, **route)
    )


async def _known_publicly(client: ChainClient, tx_hash: str) -> bool:
    return await client.request("eth_getTransactionByHash", tx_hash) is not None


def test_sent_only_to_the_relay_lands_when_the_relay_forwards(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)
    relay = Relay(chain.url, "hold")

    async def go() -> tuple[SendResult, bool, int]:
        async with serving(relay) as url:
            sender = _sender(chain, store, url, 6, fallback="none", fallback_after_blocks=2)
            task = asyncio.create_task(sender.send_liquidation(aid, mint_tx(usdc(devnet), 11)))
            async with mining(chain.url, every=0.1):
                await until(lambda: _relayed(relay))
                await asyncio.sleep(0.8)  # several blocks: no fallback with "none"
                tx_hash = store.get(aid).tx_hash
                assert tx_hash is not None
                seen_before = await _known_publicly(sender.client, tx_hash)
                await relay.release()
                res = await task
            await sender.route.close()
            await sender.client.close()
            return res, seen_before, sender.client.calls["eth_sendRawTransaction"]

    res, seen_before, public_sends = asyncio.run(go())
    assert seen_before is False  # held by the relay: the public chain did not know it
    assert res.status is S.INCLUDED and res.route == "relay"
    assert public_sends == 0 and len(relay.received) == 1 and res.attempt.tx_hash == _hash(relay.received[0])


def test_relay_that_never_lands_it_falls_back_to_the_public_rpc(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)
    relay = Relay(chain.url, "hold")  # swallows it for good

    async def go() -> tuple[SendResult, int]:
        async with serving(relay) as url:
            sender = _sender(chain, store, url, 7, fallback="public", fallback_after_blocks=2)
            async with mining(chain.url, every=0.1):
                res = await sender.send_liquidation(aid, mint_tx(usdc(devnet), 12))
            await sender.route.close()
            await sender.client.close()
            return res, sender.client.calls["eth_sendRawTransaction"]

    res, public_sends = asyncio.run(go())
    assert res.status is S.INCLUDED and res.route == "public" and public_sends == 1
    assert len(relay.received) == 1 and res.attempt.tx_hash == _hash(relay.received[0])  # the same bytes
    # It went public only after `fallback_after_blocks` (2) blocks without inclusion: the sender's head at
    # sending is h, the relay saw h or h+1 (blocks come every 0.1 s), the public send left at h+2 at the
    # earliest and landed in a later block. At once, it would land at h+1 or h+2.
    assert res.receipt is not None and int(res.receipt["blockNumber"], 16) - relay.heads[0] >= 2


def test_unreachable_relay_sends_publicly_at_once(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    store = new_store(tmp_path)
    aid = new_attempt(store)

    async def go() -> tuple[SendResult, int]:
        sender = _sender(chain, store, f"http://127.0.0.1:{free_port_block()}", 7, fallback="public")
        async with mining(chain.url):
            res = await sender.send_liquidation(aid, mint_tx(usdc(devnet), 13))
        await sender.route.close()
        await sender.client.close()
        return res, sender.client.calls["eth_sendRawTransaction"]

    res, public_sends = asyncio.run(go())
    assert res.status is S.INCLUDED and res.route == "public" and public_sends == 1


def test_relay_refusals_go_through_the_table(
    devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path
) -> None:
    """The relay forwards to the devnet, which refuses (no funds): the same typed error as a public send."""
    store = new_store(tmp_path)
    aid = new_attempt(store)
    relay = Relay(chain.url, "forward")
    chain.call("anvil_setBalance", ANVIL_ACCOUNTS[8], "0x0")

    async def go() -> BaseException | None:
        async with serving(relay) as url:
            sender = _sender(chain, store, url, 8, fallback="public")
            try:
                await sender.send_liquidation(aid, mint_tx(usdc(devnet), 14))
            except InsufficientFundsError as exc:
                return exc
            finally:
                await sender.route.close()
                await sender.client.close()
        return None

    assert asyncio.run(go()) is not None
    assert len(relay.received) == 1 and store.get(aid).status is S.FAILED


def test_relay_policy_refusal_falls_back(devnet: manager.Devnet, chain: DevnetRpc, tmp_path: Path) -> None:
    """An error the table does not know (the relay's own policy) is not the transaction's fault: go public."""
    store = new_store(tmp_path)
    aid = new_attempt(store)
    relay = Relay(chain.url, "refuse")

    async def go() -> SendResult:
        async with serving(relay) as url:
            sender = _sender(chain, store, url, 6, fallback="public")
            async with mining(chain.url):
                res = await sender.send_liquidation(aid, mint_tx(usdc(devnet), 15))
            await sender.route.close()
            await sender.client.close()
            return res

    res = asyncio.run(go())
    assert res.status is S.INCLUDED and res.route == "public" and len(relay.received) == 1


async def _relayed(relay: Relay) -> bool | None:
    return True if relay.received else None
