"""The WS head watcher's pure rules: endpoint choice, backoff, failback, head classification, parsing."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqbot.chain.headpolicy import (
    Endpoints,
    Head,
    HeadKind,
    HeadTracker,
    Timing,
    backoff_delay,
    endpoint_labels,
    next_wait,
    parse_head,
    parse_message,
)
from liqbot.chain.heads import HeadWatcher, _describe


def h(n: int, tag: str = "a", parent: str | None = None) -> Head:
    return Head(n, f"0x{tag}{n}", parent if parent is not None else f"0x{tag}{n - 1}")


def test_backoff_doubles_then_caps() -> None:
    delays = [backoff_delay(n, base=0.25, cap=4.0, jitter=0) for n in range(0, 8)]
    assert delays == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_delay(10_000, base=1, cap=30, jitter=0) == 30


@given(st.integers(1, 200), st.floats(0, 0.999))
def test_backoff_jitter_only_shortens(failures: int, rand: float) -> None:
    plain = backoff_delay(failures, base=0.5, cap=30, jitter=0)
    jittered = backoff_delay(failures, base=0.5, cap=30, jitter=0.2, rand=rand)
    assert 0.8 * plain <= jittered <= plain


def test_first_rested_endpoint_in_preference_order() -> None:
    eps = Endpoints(("ws://a", "ws://b", "ws://c"), base=1.0, cap=8.0)
    assert eps.choose(0.0) == (0, 0.0)
    assert eps.failed(0, now=0.0) == 1.0  # a rests 1 s
    assert eps.choose(0.5) == (1, 0.0), "fail over to the next one at once"
    eps.failed(1, now=0.5)  # b rests until 1.5
    assert eps.choose(0.6) == (2, 0.0)
    assert eps.choose(1.0) == (0, 0.0), "a recovered endpoint comes back"


def test_all_down_waits_for_the_one_that_rests_least() -> None:
    eps = Endpoints(("ws://a", "ws://b"), base=1.0, cap=8.0)
    eps.failed(0, now=0.0)
    eps.failed(0, now=1.0)  # second failure: rests 2 s, until 3.0
    eps.failed(1, now=1.0)  # rests 1 s, until 2.0
    i, wait = eps.choose(1.5)
    assert (i, wait) == (1, 0.5)


def test_consecutive_failures_grow_the_rest_and_a_head_resets_it() -> None:
    eps = Endpoints(("ws://a",), base=1.0, cap=8.0)
    rests = [eps.failed(0, now=0.0) for _ in range(5)]
    assert rests == [1.0, 2.0, 4.0, 8.0, 8.0]
    eps.healthy(0)
    assert eps.failed(0, now=0.0) == 1.0


def test_failback_to_a_preferred_endpoint_only_after_a_while_and_once_rested() -> None:
    eps = Endpoints(("ws://a", "ws://b", "ws://c"), base=1.0, cap=8.0, failback_s=60)
    eps.failed(0, now=0.0)  # a rests until 1.0
    assert eps.failback(0, connected_at=0.0, now=1_000) is None, "already on the best one"
    assert eps.failback(2, connected_at=0.0, now=30.0) is None, "not long enough on c"
    assert eps.failback(2, connected_at=0.0, now=60.0) == 0
    eps.failed(0, now=59.0)
    assert eps.failback(2, connected_at=0.0, now=60.0) == 1, "a is resting again: b is still better than c"


def test_no_endpoints_is_an_error() -> None:
    with pytest.raises(ValueError, match="no WebSocket endpoints"):
        Endpoints(())


def test_labels_are_redacted_and_distinct() -> None:
    urls = (
        "wss://eth.example.com/v2/AbCdEf0123456789xyzKEY",
        "wss://eth.example.com/v2/ZZZdEf0123456789xyzKEY",
        "ws://127.0.0.1:8546",
        "wss://eth.example.com/v2/QQQdEf0123456789xyzKEY",
    )
    labels = endpoint_labels(urls)
    assert labels == [
        "wss://eth.example.com/***",
        "wss://eth.example.com/***#2",
        "ws://127.0.0.1:8546",
        "wss://eth.example.com/***#3",
    ]
    assert not any("KEY" in x for x in labels)


def test_head_kinds() -> None:
    t = HeadTracker()
    assert t.observe(h(10)) is HeadKind.FIRST
    assert t.observe(h(11)) is HeadKind.NEXT
    assert t.observe(h(11)) is HeadKind.DUPLICATE
    assert t.observe(h(14)) is HeadKind.GAP
    assert t.observe(h(15, parent="0xother")) is HeadKind.REORG, "a parent we did not see"
    assert t.observe(h(13, tag="b")) is HeadKind.REORG, "the head went backwards"
    assert t.observe(h(14, tag="b")) is HeadKind.NEXT
    assert t.observe(h(14, tag="c", parent="0xb13")) is HeadKind.REORG, "same height, other hash"


def test_parse_head_and_messages() -> None:
    head = {"number": "0x1f", "hash": "0xaa", "parentHash": "0xbb", "miner": "0x0"}
    assert parse_head(head) == Head(31, "0xaa", "0xbb")
    for bad in (None, [], {"number": "0x1"}, {"number": "zz", "hash": "0x", "parentHash": "0x"}):
        with pytest.raises(ValueError, match="newHeads result"):
            parse_head(bad)
    note = parse_message(
        json.dumps({"jsonrpc": "2.0", "method": "eth_subscription",
                    "params": {"subscription": "0x9", "result": head}})
    )  # fmt: skip
    assert note.subscription == "0x9" and note.result == head and note.id is None
    reply = parse_message(b'{"jsonrpc":"2.0","id":7,"result":"0x10"}')
    assert (reply.id, reply.result, reply.subscription) == (7, "0x10", None)
    err = parse_message('{"jsonrpc":"2.0","id":8,"error":{"code":-32601,"message":"no such method"}}')
    assert err.id == 8 and err.error["code"] == -32601
    for bad_raw in ("not json", "[1, 2]", '{"method": "eth_subscription", "params": 3}'):
        with pytest.raises(ValueError, match=r"WebSocket message|eth_subscription"):
            parse_message(bad_raw)


def test_timing_scales_with_block_time() -> None:
    fast, slow = Timing.for_block_time(0.25), Timing.for_block_time(12.0)
    assert fast.silence_s == 1.0, "never below a second"
    assert slow.silence_s == 36.0
    assert slow.probe_s == 10.0 and fast.probe_s == 2.0
    assert fast.grace_s == 0.5 and slow.grace_s == 2.0


def test_pipeline_waits_a_block_only_while_the_stream_is_live_and_caught_up() -> None:
    assert next_wait(True, latest=100, processed=100, poll_s=1.2, block_time_s=12) == 12
    assert next_wait(True, latest=101, processed=100, poll_s=1.2, block_time_s=12) == 1.2, "HTTP lags WS"
    assert next_wait(False, latest=100, processed=100, poll_s=1.2, block_time_s=12) == 1.2, "WS down"
    assert next_wait(True, latest=None, processed=100, poll_s=1.2, block_time_s=12) == 1.2


def test_wait_returns_on_a_wake_even_one_that_came_first_on_stop_or_on_timeout() -> None:
    async def run() -> None:
        w = HeadWatcher("c", ("ws://127.0.0.1:1",), 1.0)
        assert await w.wait(0, timeout=0.01) == 0, "nothing happened: the timeout returns"
        w._announce(5)
        assert await w.wait(0, timeout=60) == 1, "a wake before the wait is not lost"
        assert w.latest == 5
        stop = asyncio.Event()
        stop.set()
        assert await w.wait(1, timeout=60, stop=stop) == 1, "stop ends the wait"
        waiter = asyncio.ensure_future(w.wait(1, timeout=60))
        await asyncio.sleep(0)
        w._announce(4)
        assert await waiter == 2, "a wake during the wait ends it"
        assert w.latest == 5, "an older number never lowers the announced head"

    asyncio.run(run())


def test_errors_are_described_without_urls() -> None:
    refused = "ConnectionRefusedError: [Errno 111] Connect call failed"
    assert _describe(OSError(111, "Connect call failed")) == refused
    assert _describe(ValueError("wss://x.example/v2/SECRETKEY123 is bad")) == "ValueError"
