"""Pure bookkeeping of an RPC pool: each endpoint's error rate, latency and head, whether it is healthy, and
in which order to try the endpoints. No I/O and no clock: the caller passes `now` (monotonic seconds), so
every rule here is tested without a network (tests/unit/test_rpc_scoring.py).

An endpoint is healthy when it is not benched and its head keeps up: at most `max_lag_blocks` behind the
best head any endpoint reported, and not stuck behind it for `stall_s` (k × block time). A failure (timeout,
closed socket, 5xx, rate limit, malformed answer) benches it for a backoff that doubles with each failure in
a row; only a successful probe after the backoff lifts the bench, so a recovered endpoint comes back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

FailReason = Literal[
    "timeout", "connection", "http_5xx", "http_status", "rate_limit", "malformed", "head_lag"
]
FAIL_REASONS: tuple[FailReason, ...] = (
    "timeout", "connection", "http_5xx", "http_status", "rate_limit", "malformed", "head_lag",
)  # fmt: skip
Health = Literal["healthy", "benched", "lagging", "stalled"]


@dataclass(frozen=True)
class Policy:
    max_lag_blocks: int = 3  # more blocks than this behind the best head: lagging
    stall_s: float = 36.0  # behind the best head with no new head for this long: stalled
    bench_base_s: float = 1.0  # first bench; doubles with each failure in a row
    bench_max_s: float = 60.0
    error_decay: float = 0.2  # weight of the newest outcome in the error-rate average
    latency_decay: float = 0.3  # weight of the newest sample in the latency average
    error_cost_s: float = 2.0  # an error rate of 1 costs as much as this much latency
    lag_cost_s: float = 0.25  # each block behind the best head costs this much latency
    switch_margin_s: float = 0.05  # stay on the current endpoint unless another is better by this much


@dataclass
class EndpointState:
    """What the pool knows about one endpoint. `label` is the redacted URL: safe for logs and metrics."""

    label: str
    error_rate: float = 0.0
    latency_s: float | None = None
    head: int | None = None
    head_changed_at: float | None = None
    benched_until: float | None = None  # None: not benched
    strikes: int = 0  # failures in a row
    last_failure: FailReason | None = None

    @property
    def benched(self) -> bool:
        return self.benched_until is not None


def record_success(ep: EndpointState, latency_s: float, policy: Policy) -> None:
    ep.error_rate *= 1 - policy.error_decay
    ep.latency_s = (
        latency_s
        if ep.latency_s is None
        else ep.latency_s + policy.latency_decay * (latency_s - ep.latency_s)
    )
    ep.strikes = 0


def record_failure(ep: EndpointState, reason: FailReason, now: float, policy: Policy) -> float:
    """Count a failure and bench the endpoint; returns the bench length in seconds. A call that was already
    under way when the endpoint got benched and fails too adds nothing: one outage is one strike."""
    if ep.benched_until is not None and now < ep.benched_until:
        return ep.benched_until - now
    ep.error_rate += policy.error_decay * (1 - ep.error_rate)
    ep.strikes += 1
    ep.last_failure = reason
    backoff = min(policy.bench_max_s, policy.bench_base_s * 2.0 ** min(ep.strikes - 1, 30))
    ep.benched_until = now + backoff
    return backoff


def observe_head(ep: EndpointState, head: int, now: float) -> None:
    if ep.head is None or head != ep.head:
        ep.head, ep.head_changed_at = head, now


def probe_due(ep: EndpointState, now: float) -> bool:
    """Healthy endpoints are probed every round (for their head); benched ones once their backoff ends."""
    return ep.benched_until is None or now >= ep.benched_until


def recover(ep: EndpointState) -> None:
    """A probe succeeded after the backoff: back in rotation (its error rate still remembers)."""
    ep.benched_until = None


def best_head(endpoints: Sequence[EndpointState]) -> int | None:
    heads = [ep.head for ep in endpoints if ep.head is not None]
    return max(heads) if heads else None


def lag(ep: EndpointState, best: int | None) -> int:
    if best is None or ep.head is None:
        return 0
    return max(0, best - ep.head)


def health(ep: EndpointState, best: int | None, now: float, policy: Policy) -> Health:
    if ep.benched:
        return "benched"
    behind = lag(ep, best)
    if behind > policy.max_lag_blocks:
        return "lagging"
    if behind > 0 and ep.head_changed_at is not None and now - ep.head_changed_at > policy.stall_s:
        return "stalled"
    return "healthy"


def cost(ep: EndpointState, best: int | None, policy: Policy) -> float:
    """Lower is better: latency, plus the error rate and the lag priced in seconds."""
    return (ep.latency_s or 0.0) + policy.error_cost_s * ep.error_rate + policy.lag_cost_s * lag(ep, best)


def order(
    endpoints: Sequence[EndpointState],
    now: float,
    policy: Policy,
    current: int | None = None,
    need: int | None = None,
) -> list[int]:
    """The indices to try, best first: healthy ones by cost (the current one first unless another beats it
    by `switch_margin_s`, so one stream of calls stays on one node), then lagging or stalled ones by lag,
    then benched ones by when their bench ends. Every endpoint is listed: when all are unwell the least
    bad one is still worth a try.

    `need`: the call names this block (eth_getLogs up to it, eth_call at it). Endpoints that have not shown
    us that head yet go last: a node behind it may answer with too few logs instead of an error."""
    best = best_head(endpoints)
    states = [health(ep, best, now, policy) for ep in endpoints]
    healthy = sorted(
        (i for i, s in enumerate(states) if s == "healthy"),
        key=lambda i: (cost(endpoints[i], best, policy), i),
    )
    if current is not None and current in healthy and healthy[0] != current:
        leader = cost(endpoints[healthy[0]], best, policy)
        if cost(endpoints[current], best, policy) - leader <= policy.switch_margin_s:
            healthy.remove(current)
            healthy.insert(0, current)
    unwell = sorted(
        (i for i, s in enumerate(states) if s in ("lagging", "stalled")),
        key=lambda i: (lag(endpoints[i], best), i),
    )
    benched = sorted(
        (i for i, s in enumerate(states) if s == "benched"),
        key=lambda i: (endpoints[i].benched_until or 0.0, i),
    )
    ranked = healthy + unwell + benched
    if need is None:
        return ranked
    has = [i for i in ranked if (endpoints[i].head or -1) >= need]
    return has + [i for i in ranked if i not in has]


def head_lags(ep_head: int, endpoints: Sequence[EndpointState], policy: Policy) -> bool:
    """An answer to eth_blockNumber that is more than max_lag_blocks behind the best head seen: fail over."""
    best = best_head(endpoints)
    return best is not None and best - ep_head > policy.max_lag_blocks
