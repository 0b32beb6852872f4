"""The WS head watcher against a real anvil behind the fault proxy: heads arrive; a cut connection is
replaced and resubscribed; a stalled or mute stream is detected and replaced; a refusing endpoint is
skipped and comes back once it recovers; reorgs and gaps are seen. Each test runs its own anvil."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from liqbot.chain.client import ChainClient
from liqbot.chain.headpolicy import Endpoints, Timing
from liqbot.chain.heads import HeadWatcher
from liqbot.harness.devnet import anvil
from liqbot.harness.wsproxy import WsProxy
from liqbot.telemetry.metrics import Metrics

from ..conftest import free_port_block

pytestmark = pytest.mark.devnet
CHAIN = "testnet"
FAST = Timing(silence_s=0.5, probe_s=1.0, grace_s=0.3, open_s=2.0)


@pytest.fixture
def node(npm_ready: None, tmp_path: Path) -> Iterator[anvil.AnvilProcess]:
    proc = anvil.start(free_port_block(), 31337, tmp_path / "anvil.log")
    try:
        yield proc
    finally:
        anvil.stop(proc.pid)


@pytest.fixture
def proxy(node: anvil.AnvilProcess) -> Iterator[WsProxy]:
    with WsProxy(node.ws_url) as p:
        yield p


async def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for a condition (the timeout only keeps a broken build from hanging; nothing is timed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def watching(watcher: HeadWatcher) -> AsyncIterator[HeadWatcher]:
    task = asyncio.create_task(watcher.run())
    try:
        yield watcher
        if task.done():
            task.result()  # the watcher runs until cancelled: show why it stopped
            raise AssertionError("the watcher stopped")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def watcher_for(urls: tuple[str, ...], metrics: Metrics, failback_s: float = 3600.0) -> HeadWatcher:
    eps = Endpoints(urls, base=0.05, cap=0.5, failback_s=failback_s)
    return HeadWatcher(CHAIN, urls, 1.0, metrics, timing=FAST, endpoints=eps)


def sample(m: Metrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, {"chain": CHAIN, **labels}) or 0.0


async def mine(client: ChainClient, n: int = 1) -> int:
    for _ in range(n):
        await client.request("evm_mine")
    return await client.block_number()


def test_heads_arrive_and_a_cut_connection_is_replaced(node: anvil.AnvilProcess, proxy: WsProxy) -> None:
    async def run() -> None:
        m, client = Metrics(), ChainClient(node.url, 31337)
        w = watcher_for((proxy.url,), m)
        async with watching(w):
            await until(lambda: w.live, "subscribed")
            head = await mine(client, 3)
            await until(lambda: w.latest == head, "three heads")
            assert sample(m, "liqbot_ws_heads_total") == 3
            assert sample(m, "liqbot_ws_connected", endpoint=proxy.url) == 1
            for round_, clean in enumerate((False, True, False), start=1):
                wakes = w.wakes
                assert proxy.drop(clean=clean) == 1
                await until(lambda r=round_: w.sessions == r + 1 and w.live, "resubscribed")  # type: ignore[misc]
                assert w.wakes > wakes, "a resubscription wakes the pipeline (it backfills the gap)"
                head = await mine(client, 2)
                await until(lambda h=head: w.latest == h, "heads resume")  # type: ignore[misc]
            assert proxy.accepted == 4 and proxy.dropped == 3
            assert sample(m, "liqbot_ws_reconnects_total", endpoint=proxy.url, reason="closed") == 3
            assert sample(m, "liqbot_ws_heads_total") == 3 + 3 * 2
        assert sample(m, "liqbot_ws_connected", endpoint=proxy.url) == 0
        await client.close()

    asyncio.run(run())


def test_a_stalled_stream_is_detected_and_replaced_and_the_gap_is_seen(
    node: anvil.AnvilProcess, proxy: WsProxy
) -> None:
    async def run() -> None:
        m, client = Metrics(), ChainClient(node.url, 31337)
        w = watcher_for((proxy.url,), m)
        async with watching(w):
            await until(lambda: w.live, "subscribed")
            first = await mine(client)
            await until(lambda: w.latest == first, "a head")
            proxy.stall()  # notifications stop; pings and replies still flow, so only silence shows it
            stuck = await mine(client, 3)
            await until(lambda: sample(m, "liqbot_ws_reconnects_total", endpoint=proxy.url,
                                       reason="stalled") >= 1, "stall detected")  # fmt: skip
            assert w.latest == stuck, "the check's answer still wakes the pipeline for the missed blocks"
            proxy.stall(False)
            await until(lambda: w.live, "resubscribed")
            head = await mine(client)
            await until(lambda: w.latest == head, "heads resume")
            assert sample(m, "liqbot_ws_head_anomalies_total", kind="gap") == 1, "first → +4 skipped three"
        await client.close()

    asyncio.run(run())


def test_an_idle_chain_is_not_a_stall(node: anvil.AnvilProcess, proxy: WsProxy) -> None:
    """Automine with no transactions: silence is answered by a head check, not by reconnecting."""

    async def run() -> None:
        m = Metrics()
        w = watcher_for((proxy.url,), m)
        async with watching(w):
            await until(lambda: w.live, "subscribed")
            await asyncio.sleep(FAST.silence_s * 4)  # several silent windows pass
            assert w.live and w.sessions == 1 and proxy.accepted == 1
            assert sample(m, "liqbot_ws_reconnects_total", endpoint=proxy.url, reason="stalled") == 0

    asyncio.run(run())


def test_a_mute_endpoint_fails_over_and_a_refusing_one_comes_back(node: anvil.AnvilProcess) -> None:
    """Two endpoints: the preferred one goes mute (nothing from the node) → the check times out and the
    watcher moves to the second; while the first refuses it stays away; once it accepts again the
    watcher returns to it after the failback delay."""

    async def run() -> None:
        m, client = Metrics(), ChainClient(node.url, 31337)
        with WsProxy(node.ws_url) as a, WsProxy(node.ws_url) as b:
            w = watcher_for((a.url, b.url), m, failback_s=1.0)
            async with watching(w):
                await until(lambda: w.live and w.current == 0, "on the preferred endpoint")
                a.refuse()
                a.stall(everything=True)
                await until(lambda: w.live and w.current == 1, "failed over to b")
                assert sample(m, "liqbot_ws_reconnects_total", endpoint=a.url, reason="timeout") == 1
                head = await mine(client)
                await until(lambda: w.latest == head, "heads from b")
                await until(lambda: a.refused >= 1 and w.live, "a tried again, refused, b again")
                assert w.current == 1
                a.stall(False)
                a.refuse(False)
                await until(lambda: w.live and w.current == 0, "back on a")
                # Every failback tried a once: the refused tries sent it back to b, the last one stayed.
                failbacks = sample(m, "liqbot_ws_reconnects_total", endpoint=b.url, reason="failback")
                assert failbacks == a.refused + 1
                assert sample(m, "liqbot_ws_reconnects_total", endpoint=a.url, reason="refused") == a.refused
                assert sample(m, "liqbot_ws_connected", endpoint=a.url) == 1
                assert sample(m, "liqbot_ws_connected", endpoint=b.url) == 0
                head = await mine(client)
                await until(lambda: w.latest == head, "heads from a")
        await client.close()

    asyncio.run(run())


def test_a_refused_only_endpoint_is_retried_with_backoff(node: anvil.AnvilProcess, proxy: WsProxy) -> None:
    async def run() -> None:
        m, client = Metrics(), ChainClient(node.url, 31337)
        proxy.refuse()
        w = watcher_for((proxy.url,), m)
        async with watching(w):
            await until(lambda: proxy.refused >= 3, "retries")
            assert not w.live and w.endpoints.state[0].failures >= 3
            proxy.refuse(False)
            await until(lambda: w.live, "subscribed once accepted")
            head = await mine(client)
            await until(lambda: w.latest == head, "a head")
            assert w.endpoints.state[0].failures == 0, "a head forgives past failures"
            assert sample(m, "liqbot_ws_reconnects_total", endpoint=proxy.url, reason="refused") >= 3
        await client.close()

    asyncio.run(run())


def test_a_reorg_is_seen(node: anvil.AnvilProcess, proxy: WsProxy) -> None:
    async def run() -> None:
        m, client = Metrics(), ChainClient(node.url, 31337)
        w = watcher_for((proxy.url,), m)
        async with watching(w):
            await until(lambda: w.live, "subscribed")
            head = await mine(client, 4)
            await until(lambda: w.latest == head, "heads")
            await client.request("anvil_reorg", 2, [])
            await until(lambda: sample(m, "liqbot_ws_head_anomalies_total", kind="reorg") >= 1, "reorg")
            assert w.latest is not None and w.latest <= head
        await client.close()

    asyncio.run(run())


def test_a_silent_node_behind_the_chain_is_left(node: anvil.AnvilProcess, proxy: WsProxy) -> None:
    """Its head check answers, but with a block below one seen over HTTP: stuck, not idle."""

    async def run() -> None:
        m = Metrics()
        w = watcher_for((proxy.url,), m)
        async with watching(w):
            await until(lambda: w.live, "subscribed")
            assert w.latest is not None
            w.note_head(w.latest + 5)  # as the pipeline does after reading a newer head over HTTP
            await until(lambda: sample(m, "liqbot_ws_reconnects_total", endpoint=proxy.url,
                                       reason="behind") >= 1, "stuck node left")  # fmt: skip
            await until(lambda: proxy.accepted >= 2, "tried again after its rest")

    asyncio.run(run())
