"""The RPC pool's pure rules (chain/scoring.py): backoff, health, order; which answers blame the endpoint."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from liqbot.chain.errors import endpoint_fault
from liqbot.chain.pool import _parse, needed_block
from liqbot.chain.scoring import (
    EndpointState,
    Policy,
    best_head,
    cost,
    head_lags,
    health,
    observe_head,
    order,
    probe_due,
    record_failure,
    record_success,
    recover,
)

P = Policy(max_lag_blocks=3, stall_s=10.0, bench_base_s=1.0, bench_max_s=16.0)


@st.composite
def endpoint(draw: st.DrawFn) -> EndpointState:
    ep = EndpointState(f"http://127.0.0.1:{draw(st.integers(1, 65535))}")
    ep.error_rate = draw(st.floats(0, 1))
    ep.latency_s = draw(st.none() | st.floats(0, 30))
    ep.head = draw(st.none() | st.integers(0, 100))
    ep.head_changed_at = None if ep.head is None else draw(st.floats(0, 100))
    ep.benched_until = draw(st.none() | st.floats(0, 200))
    return ep


@given(st.lists(endpoint(), min_size=1, max_size=6), st.floats(0, 200), st.none() | st.integers(0, 5))
@settings(max_examples=300)
def test_order_lists_every_endpoint_once_healthy_first_benched_last(
    eps: list[EndpointState], now: float, current: int | None
) -> None:
    current = current if current is not None and current < len(eps) else None
    got = order(eps, now, P, current)
    assert sorted(got) == list(range(len(eps)))
    best = best_head(eps)
    rank = {"healthy": 0, "lagging": 1, "stalled": 1, "benched": 2}
    ranks = [rank[health(eps[i], best, now, P)] for i in got]
    assert ranks == sorted(ranks)
    healthy = [i for i in got if health(eps[i], best, now, P) == "healthy"]
    if healthy and current is None:  # without a current endpoint, the cheapest healthy one leads
        assert cost(eps[healthy[0]], best, P) == min(cost(eps[i], best, P) for i in healthy)


def test_the_current_endpoint_is_kept_unless_another_is_clearly_better() -> None:
    a, b = EndpointState("a", latency_s=0.020), EndpointState("b", latency_s=0.010)
    assert order([a, b], 0.0, P, current=0) == [0, 1]  # 10 ms better is within the switch margin
    a.latency_s = 0.5
    assert order([a, b], 0.0, P, current=0) == [1, 0]


@given(st.lists(endpoint(), min_size=1, max_size=6), st.floats(0, 200), st.integers(0, 110))
def test_endpoints_that_have_the_block_asked_for_come_first(
    eps: list[EndpointState], now: float, need: int
) -> None:
    got = order(eps, now, P, None, need)
    assert sorted(got) == list(range(len(eps)))

    def ready(i: int) -> bool:
        return (eps[i].head or -1) >= need

    assert [ready(i) for i in got] == sorted((ready(i) for i in got), reverse=True)
    without = order(eps, now, P)  # within each group the usual order holds
    assert [i for i in got if ready(i)] == [i for i in without if ready(i)]


def test_the_block_a_call_needs() -> None:
    assert needed_block("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x10", "address": []}]) == 16
    assert needed_block("eth_getLogs", [{"blockHash": "0xab"}]) is None
    assert needed_block("eth_call", [{"to": "0x0"}, "0x20"]) == 32
    assert needed_block("eth_call", [{"to": "0x0"}, "latest"]) is None
    assert needed_block("eth_call", [{"to": "0x0"}, "0x20", {"0x0": {"code": "0x"}}]) == 32
    assert needed_block("eth_getBlockByNumber", ["0x7", False]) == 7
    assert needed_block("eth_getBlockByNumber", ["latest", False]) is None
    assert needed_block("eth_blockNumber", []) is None
    assert needed_block("eth_sendRawTransaction", ["0x02f8"]) is None


@given(st.integers(1, 40))
def test_bench_doubles_per_failure_in_a_row_up_to_the_cap(n: int) -> None:
    ep, now = EndpointState("e"), 100.0
    for k in range(1, n + 1):  # each failure comes from the probe once the previous bench ended
        now = ep.benched_until or now
        length = record_failure(ep, "timeout", now, P)
        assert length == min(P.bench_max_s, P.bench_base_s * 2 ** (k - 1))
    assert ep.benched and ep.benched_until == now + length
    assert 0 < ep.error_rate <= 1
    record_success(ep, 0.01, P)
    assert ep.strikes == 0 and ep.benched  # only a probe after the backoff lifts the bench
    assert not probe_due(ep, now + length - 0.001) and probe_due(ep, now + length)
    recover(ep)
    assert not ep.benched and health(ep, None, 0.0, P) == "healthy"


def test_calls_failing_during_a_bench_add_no_strike() -> None:
    ep = EndpointState("e")
    assert record_failure(ep, "timeout", 0.0, P) == 1.0
    rate = ep.error_rate
    for _ in range(5):  # the other calls that were in flight when it died
        assert record_failure(ep, "timeout", 0.5, P) == 0.5
    assert ep.strikes == 1 and ep.error_rate == rate
    assert record_failure(ep, "timeout", 1.0, P) == 2.0  # the probe after the backoff fails: next strike


@given(st.lists(st.booleans(), max_size=60))
def test_error_rate_stays_a_rate_and_decays_on_success(outcomes: list[bool]) -> None:
    ep = EndpointState("e")
    for ok in outcomes:
        before = ep.error_rate
        if ok:
            record_success(ep, 0.01, P)
            assert ep.error_rate <= before
        else:
            record_failure(ep, "http_5xx", 0.0, P)
            assert ep.error_rate >= before
        assert 0.0 <= ep.error_rate <= 1.0


def test_latency_is_a_moving_average() -> None:
    ep = EndpointState("e")
    record_success(ep, 1.0, P)
    assert ep.latency_s == 1.0
    record_success(ep, 0.0, P)
    assert ep.latency_s == 1.0 - P.latency_decay


def test_lag_beyond_the_limit_is_lagging_and_behind_without_news_is_stalled() -> None:
    fresh, frozen = EndpointState("fresh"), EndpointState("frozen")
    observe_head(fresh, 100, 0.0)
    observe_head(frozen, 100, 0.0)
    observe_head(frozen, 100, 5.0)  # the same head again is not news
    assert frozen.head_changed_at == 0.0
    observe_head(fresh, 102, 9.0)
    assert health(frozen, 102, 9.0, P) == "healthy"  # 2 behind, head seen 9 s ago: within both limits
    assert health(frozen, 102, 10.5, P) == "stalled"  # still behind after stall_s
    observe_head(fresh, 104, 10.6)
    assert health(frozen, 104, 10.6, P) == "lagging"  # 4 > max_lag_blocks
    assert head_lags(100, [fresh, frozen], P) and not head_lags(101, [fresh, frozen], P)
    assert order([frozen, fresh], 10.6, P, current=0) == [1, 0]


def test_an_idle_chain_does_not_stall_anyone() -> None:
    eps = [EndpointState("a"), EndpointState("b")]
    for ep in eps:
        observe_head(ep, 7, 0.0)
    assert [health(ep, 7, 10_000.0, P) for ep in eps] == ["healthy", "healthy"]


def test_answers_that_blame_the_endpoint() -> None:
    assert endpoint_fault({"code": 429, "message": "whatever"}) == "rate_limit"
    assert endpoint_fault({"code": -32005, "message": "Your app has exceeded its compute units per second "
                           "capacity"}) == "rate_limit"  # fmt: skip
    assert endpoint_fault({"code": -32000, "message": "header not found"}) == "head_lag"
    assert endpoint_fault("daily request count exceeded, request rate limited") == "rate_limit"
    # answers: the call's own result, never the endpoint's fault
    assert endpoint_fault({"code": 3, "message": "execution reverted: rate limit", "data": "0x"}) is None
    assert endpoint_fault({"code": -32000, "message": "nonce too low"}) is None
    assert endpoint_fault({"code": -32000, "message": "execution reverted"}) is None
    assert endpoint_fault({"code": -32602, "message": "invalid argument 0"}) is None


def test_only_the_answer_to_our_call_is_an_answer() -> None:
    assert _parse(b'{"jsonrpc":"2.0","id":7,"result":"0x1"}', 7) == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": "0x1",
    }
    assert _parse(b'{"jsonrpc":"2.0","id":7,"error":{"code":3,"message":"execution reverted"}}', 7)
    assert _parse(b'{"jsonrpc":"2.0","id":6,"result":"0x1"}', 7) is None  # someone else's answer
    assert _parse(b'{"jsonrpc":"2.0","id":7,"result":0x<html>', 7) is None
    assert _parse(b'[{"jsonrpc":"2.0","id":7,"result":"0x1"}]', 7) is None
    assert _parse(b'{"jsonrpc":"2.0","id":7}', 7) is None
    assert _parse(b"\xff\xfe", 7) is None
