"""RPC failover on a real devnet: one anvil behind three fault-injecting proxies (harness/faultproxy.py).

For each fault the calls keep succeeding through a healthy endpoint, the faulty one is benched, and once the
fault is cleared it comes back (it then serves alone while the other two fail). A revert is the call's
answer: returned once, asked of one endpoint only, nobody benched. A frozen head is seen as lagging."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from eth_utils import to_checksum_address
from prometheus_client import generate_latest
from web3.exceptions import ContractLogicError

from liqbot.chain.client import ChainClient
from liqbot.chain.errors import TRANSIENT, ExecutionRevertedError, rpc
from liqbot.chain.pool import RpcUnavailableError
from liqbot.chain.provider import pooled_web3
from liqbot.chain.scoring import Policy, best_head, health
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.harness.faultproxy import FaultProxy
from liqbot.telemetry.metrics import Metrics

pytestmark = pytest.mark.devnet

POLICY = Policy(max_lag_blocks=3, stall_s=0.5, bench_base_s=0.2, bench_max_s=1.0)
ANYONE = "0x00000000000000000000000000000000000000a1"
# Reverts with Error("nope"): mstore the selector, offset, length and text, then revert(0, 100).
REVERTER = (
    "0x7f08c379a0" + "00" * 28 + "600052" + "6020600452" + "6004602452" + "7f6e6f7065" + "00" * 28 + "604452"
    + "60646000fd"
)  # fmt: skip


@pytest.fixture
def proxies(chain: DevnetRpc) -> Iterator[list[FaultProxy]]:
    ps = [FaultProxy(chain.url, seed=i).start() for i in range(3)]
    try:
        yield ps
    finally:
        for p in ps:
            p.stop()


def _client(proxies: list[FaultProxy], metrics: Metrics) -> ChainClient:
    return ChainClient(
        [p.url for p in proxies], 31337, timeout=0.5, policy=POLICY, probe_interval_s=0.1,
        observer=metrics.rpc_observer("devnet"),
    )  # fmt: skip


async def _until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


def _failovers(metrics: Metrics, label: str, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "liqbot_rpc_failovers_total", {"chain": "devnet", "endpoint": label, "reason": reason}
    )
    return value or 0.0


async def _reads(client: ChainClient, chain: DevnetRpc) -> None:
    """A few different calls, each checked against anvil asked directly."""
    head = await client.block_number()
    assert head == int(chain.call("eth_blockNumber"), 16)
    assert (await client.block(head))["hash"] == chain.call("eth_getBlockByNumber", hex(head), False)["hash"]
    balance = await client.request("eth_getBalance", ANYONE, hex(head))
    assert balance == chain.call("eth_getBalance", ANYONE, hex(head))


FAULTS = {  # the proxy's fault → the reason the pool gives for leaving the endpoint
    "drop": "connection",
    "truncate": "connection",
    "http_5xx": "http_5xx",
    "rate_limit": "rate_limit",
    "garbage": "malformed",
    "delay": "timeout",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_fails_over_benches_and_comes_back(
    chain: DevnetRpc, proxies: list[FaultProxy], fault: str
) -> None:
    metrics = Metrics()
    client = _client(proxies, metrics)

    async def run() -> None:
        try:
            await _reads(client, chain)
            i = client.pool.current
            assert i is not None
            label = client.pool.states[i].label
            proxies[i].set(**{fault: 1.0}, delay_s=2.0)
            for _ in range(3):
                await _reads(client, chain)
            assert proxies[i].injected[fault] >= 1
            assert client.pool.states[i].benched and client.pool.current != i
            assert _failovers(metrics, label, FAULTS[fault]) >= 1
            assert metrics.registry.get_sample_value(
                "liqbot_rpc_endpoint_up", {"chain": "devnet", "endpoint": label}
            ) == 0  # fmt: skip

            proxies[i].clear()
            await _until(lambda: not client.pool.states[i].benched, "the endpoint comes back")
            for j, p in enumerate(proxies):
                if j != i:
                    p.set(drop=1.0)
            served = proxies[i].methods["eth_getBalance"]
            await _reads(client, chain)  # only the recovered endpoint can answer now
            assert proxies[i].methods["eth_getBalance"] == served + 1
        finally:
            await client.close()

    asyncio.run(run())


def test_a_revert_is_an_answer_not_a_failure(chain: DevnetRpc, proxies: list[FaultProxy]) -> None:
    metrics = Metrics()
    client = _client(proxies, metrics)
    tx = {"to": ANYONE, "data": "0x"}
    override = {ANYONE: {"code": REVERTER}}

    async def run() -> None:
        try:
            await client.block_number()
            with pytest.raises(ExecutionRevertedError) as info:
                await rpc(client, "eth_call", tx, "latest", override)
            assert info.value.reason == "nope"
            # through web3 (the quotes' path) a revert is web3's own exception, also asked only once
            w3 = pooled_web3(client)
            who = to_checksum_address(ANYONE)
            with pytest.raises(ContractLogicError, match="nope"):
                await w3.eth.call({"to": who, "data": b""}, "latest", {who: {"code": REVERTER}})
        finally:
            await client.close()

    asyncio.run(run())
    assert sum(p.methods["eth_call"] for p in proxies) == 2  # one endpoint per call: not retried elsewhere
    assert not any(s.benched for s in client.pool.states)
    assert all(s.error_rate == 0 for s in client.pool.states)
    assert "liqbot_rpc_failovers_total{" not in generate_latest(metrics.registry).decode()


def test_a_frozen_head_is_seen_lagging_and_skipped(chain: DevnetRpc, proxies: list[FaultProxy]) -> None:
    metrics = Metrics()
    client = _client(proxies, metrics)
    pool = client.pool

    def state(i: int) -> str:
        return health(pool.states[i], best_head(pool.states), asyncio.get_running_loop().time(), POLICY)

    async def run() -> None:
        try:
            await client.block_number()
            i = pool.current
            assert i is not None
            frozen = proxies[i].freeze()
            chain.mine(1)  # one block behind: within max_lag_blocks, so only the stall rule can see it
            await _until(lambda: state(i) == "stalled", "the frozen endpoint stalls")
            assert await client.block_number() == frozen + 1
            chain.mine(4)
            await _until(lambda: state(i) == "lagging", "the frozen endpoint lags")
            assert await client.block_number() == frozen + 5
            assert pool.current != i
            label = pool.states[i].label
            assert metrics.registry.get_sample_value(
                "liqbot_rpc_head_lag_blocks", {"chain": "devnet", "endpoint": label}
            ) == 5  # fmt: skip
            assert proxies[i].injected["frozen_head"] >= 1

            proxies[i].clear()
            await _until(lambda: state(i) == "healthy", "the thawed endpoint catches up")
        finally:
            await client.close()

    asyncio.run(run())


def test_a_block_is_asked_only_of_endpoints_that_have_it(chain: DevnetRpc, proxies: list[FaultProxy]) -> None:
    """A node two blocks behind is healthy (within max_lag_blocks) and still in use, but logs and calls up to
    a later block go elsewhere: it would cut eth_getLogs at its own head without a word. (Lag costs nothing
    here, so that the pool stays on it.)"""
    metrics = Metrics()
    policy = Policy(max_lag_blocks=3, stall_s=60.0, lag_cost_s=0.0)
    client = ChainClient(
        [p.url for p in proxies], 31337, timeout=0.5, policy=policy, probe_interval_s=0.1,
        observer=metrics.rpc_observer("devnet"),
    )  # fmt: skip
    pool = client.pool

    async def run() -> None:
        try:
            await client.block_number()
            i = pool.current
            assert i is not None
            frozen = proxies[i].freeze()
            chain.mine(2)
            await _until(lambda: best_head(pool.states) == frozen + 2, "the others report the new head")
            assert await client.block_number() == frozen  # within max_lag_blocks: it stays in use
            assert pool.current == i
            logs = await client.get_logs(frozen - 5, frozen + 2, [])
            span = {"fromBlock": hex(frozen - 5), "toBlock": hex(frozen + 2), "address": []}
            assert logs == chain.call("eth_getLogs", span)
            block = await client.block(frozen + 2)
            assert int(block["number"], 16) == frozen + 2
            assert proxies[i].methods["eth_getLogs"] == 0
            assert proxies[i].methods["eth_getBlockByNumber"] == 0
        finally:
            await client.close()

    asyncio.run(run())


def test_every_endpoint_failing_is_a_transport_error(chain: DevnetRpc, proxies: list[FaultProxy]) -> None:
    """What the sender's retry policy retries (chain/errors.py TRANSIENT)."""
    client = _client(proxies, Metrics())
    for p in proxies:
        p.set(http_5xx=1.0)

    async def run(call: Callable[[], Awaitable[Any]]) -> None:
        try:
            with pytest.raises(RpcUnavailableError) as info:
                await call()
            assert isinstance(info.value, TRANSIENT)
            assert str(info.value).count("http_5xx") == 3
        finally:
            await client.close()

    asyncio.run(run(client.block_number))
