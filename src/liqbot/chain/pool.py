"""JSON-RPC over HTTP to several endpoints of one chain, with failover.

Each call goes to the best healthy endpoint (chain/scoring.py ranks them) and moves on to the next one on a
timeout, a closed socket, HTTP 5xx or 429, a rate-limit answer, a body that is not a JSON-RPC answer to this
call, or a head that lags. An answer, including every JSON-RPC error (a revert, "nonce too low"), is the
call's result: it is returned and the endpoint is not blamed. With more than one endpoint a background
probe asks every endpoint for its head each `probe_interval_s`, which is how lag is seen on endpoints not in
use and how a benched endpoint comes back. A call that names a block (eth_getLogs up to it, eth_call at it)
goes first to endpoints that have shown that head. A timed-out eth_sendRawTransaction is sent again
elsewhere: the same signed bytes, so at worst the next node answers "already known" (chain/errors.py).

Plain aiohttp rather than web3's AsyncHTTPProvider: we need the failure kind (status, body, timeout) to
decide failover, a check that the answer's id is ours (web3 does not check it), one timeout per attempt,
and no hidden retries of the provider's own delaying the failover.

URLs never leave this module: logs, metrics and exceptions name an endpoint by its redacted label."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import aiohttp
import structlog

from liqbot.chain.scoring import (
    EndpointState,
    FailReason,
    Policy,
    best_head,
    head_lags,
    health,
    lag,
    observe_head,
    order,
    probe_due,
    record_failure,
    record_success,
    recover,
)
from liqbot.config.secrets import redact_url
from liqbot.core.errors import RetryableError

log = structlog.get_logger("liqbot.rpc")

Classify = Callable[[Any], FailReason | None]  # a JSON-RPC error object → the endpoint's fault, or None


class RpcUnavailableError(RetryableError, ConnectionError):
    """Every endpoint failed this call (a transport failure: the retry policy of chain/errors.py retries
    it). The message names endpoints by their redacted labels only."""


class PoolObserver(Protocol):
    """Where the pool reports (telemetry/metrics.py implements it per chain)."""

    def rpc_request(self, endpoint: str, seconds: float, ok: bool) -> None: ...
    def rpc_failover(self, endpoint: str, reason: str) -> None: ...
    def rpc_endpoint(self, endpoint: str, healthy: bool, lag: int) -> None: ...


class _FaultError(Exception):
    def __init__(self, reason: FailReason, answer: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.answer = reason, answer


def endpoint_labels(urls: Sequence[str]) -> list[str]:
    """Redacted URLs; two that redact alike (one host, two keys) get #1, #2 so labels stay distinct."""
    plain = [redact_url(u) for u in urls]
    return [f"{p}#{i + 1}" if plain.count(p) > 1 else p for i, p in enumerate(plain)]


# Where a call names its block: the index of the block parameter, by method.
_BLOCK_PARAM = {
    "eth_call": 1, "eth_getBalance": 1, "eth_getCode": 1, "eth_getStorageAt": 2,
    "eth_getTransactionCount": 1, "eth_estimateGas": 1, "eth_getBlockByNumber": 0, "eth_feeHistory": 1,
}  # fmt: skip


def needed_block(method: str, params: Sequence[Any]) -> int | None:
    """The block a call needs the endpoint to have (a number, not a tag or hash), or None."""
    try:
        if method == "eth_getLogs" and params and isinstance(params[0], dict):
            return int(str(params[0]["toBlock"]), 16)
        at = _BLOCK_PARAM.get(method)
        if at is not None and len(params) > at:
            return int(str(params[at]), 16)
    except (KeyError, ValueError):
        return None  # "latest", a block hash object, no toBlock
    return None


def _head_of(method: str, params: Sequence[Any], result: Any) -> int | None:
    """The head an answer reveals: eth_blockNumber, or the latest block."""
    try:
        if method == "eth_blockNumber":
            return int(str(result), 16)
        if method == "eth_getBlockByNumber" and params and params[0] == "latest" and isinstance(result, dict):
            return int(str(result["number"]), 16)
    except (KeyError, ValueError):
        return None
    return None


class RpcPool:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout_s: float = 15.0,
        policy: Policy | None = None,
        probe_interval_s: float = 2.0,
        classify: Classify | None = None,
        observer: PoolObserver | None = None,
    ) -> None:
        if not urls:
            raise ValueError("an RPC pool needs at least one URL")
        self.urls = list(urls)
        self.states = [EndpointState(label) for label in endpoint_labels(self.urls)]
        self.timeout_s, self.policy = timeout_s, policy or Policy()
        self.probe_interval_s = probe_interval_s
        self.classify, self.observer = classify or (lambda _e: None), observer
        self.current: int | None = None
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._prober: asyncio.Task[None] | None = None

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.states]

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def request(self, method: str, params: Sequence[Any]) -> dict[str, Any]:
        """The JSON-RPC answer ({"result": ...} or {"error": ...}) from the best endpoint that gives one.
        Raises RpcUnavailableError when none does."""
        self._start_prober()
        failures: list[str] = []
        fallback: dict[str, Any] | None = None  # an endpoint-fault answer, if every endpoint fails
        tries = order(self.states, self._now(), self.policy, self.current, needed_block(method, params))
        for k, i in enumerate(tries):
            ep = self.states[i]
            try:
                answer = await self._post(i, method, params, self.timeout_s)
            except _FaultError as fault:
                self._failed(i, fault.reason, method)
                failures.append(f"{ep.label}: {fault.reason}")
                fallback = fault.answer or fallback
                continue
            head = _head_of(method, params, answer.get("result"))
            if head is None and method == "eth_blockNumber" and "error" not in answer:
                self._failed(i, "malformed", method)  # a "result" that is no block number
                failures.append(f"{ep.label}: malformed")
                continue
            if head is not None:
                observe_head(ep, head, self._now())
                if head_lags(head, self.states, self.policy) and k < len(tries) - 1:
                    self._failover(i, "head_lag", method)
                    failures.append(f"{ep.label}: head_lag")
                    fallback = answer
                    continue
            if ep.benched:
                self._recovered(i)
            self.current = i
            return answer
        if fallback is not None:
            return fallback
        raise RpcUnavailableError(f"{method}: no RPC endpoint answered ({'; '.join(failures)})")

    async def _post(self, i: int, method: str, params: Sequence[Any], timeout_s: float) -> dict[str, Any]:
        """One attempt at one endpoint: the answer, or _FaultError with the reason to fail over."""
        ep, loop = self.states[i], asyncio.get_running_loop()
        rid = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}
        started = loop.time()
        try:
            async with self._get_session().post(
                self.urls[i], json=payload, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as resp:
                status, body = resp.status, await resp.read()
        except TimeoutError:
            raise self._observed(ep, started, _FaultError("timeout")) from None
        except (aiohttp.ClientError, OSError):
            raise self._observed(ep, started, _FaultError("connection")) from None
        seconds = loop.time() - started
        answer = _parse(body, rid)
        if status == 429:
            raise self._observed(ep, started, _FaultError("rate_limit", answer))
        if status >= 500:  # its JSON-RPC answer, if any, still goes back when every endpoint says the same
            raise self._observed(ep, started, _FaultError("http_5xx", answer))
        if answer is None:  # not JSON-RPC, or not the answer to this call
            raise self._observed(ep, started, _FaultError("malformed" if status == 200 else "http_status"))
        if "error" in answer:
            reason = self.classify(answer["error"])
            if reason is not None:
                raise self._observed(ep, started, _FaultError(reason, answer))
        elif status != 200:
            raise self._observed(ep, started, _FaultError("http_status"))
        record_success(ep, seconds, self.policy)
        if self.observer:
            self.observer.rpc_request(ep.label, seconds, True)
        return answer

    def _observed(self, ep: EndpointState, started: float, fault: _FaultError) -> _FaultError:
        if self.observer:
            self.observer.rpc_request(ep.label, self._now() - started, False)
        return fault

    def _failover(self, i: int, reason: FailReason, method: str) -> None:
        ep = self.states[i]
        if self.current == i:
            self.current = None
        if self.observer:
            self.observer.rpc_failover(ep.label, reason)
        log.warning("rpc failover", endpoint=ep.label, reason=reason, method=method)

    def _failed(self, i: int, reason: FailReason, method: str | None) -> None:
        """A call to `method` (None: the probe) failed at endpoint i: bench it."""
        ep, was_benched = self.states[i], self.states[i].benched
        bench_s = record_failure(ep, reason, self._now(), self.policy)
        if method is not None:
            self._failover(i, reason, method)
        elif self.current == i:
            self.current = None
        if was_benched:
            log.debug("rpc endpoint still failing", endpoint=ep.label, reason=reason, bench_s=bench_s)
        else:
            log.warning("rpc endpoint benched", endpoint=ep.label, reason=reason, bench_s=bench_s)
        self._publish()

    def _recovered(self, i: int) -> None:
        recover(self.states[i])
        log.info("rpc endpoint back", endpoint=self.states[i].label)
        self._publish()

    def _publish(self) -> None:
        if self.observer is None:
            return
        best, now = best_head(self.states), self._now()
        for ep in self.states:
            self.observer.rpc_endpoint(
                ep.label, health(ep, best, now, self.policy) == "healthy", lag(ep, best)
            )

    # -- the probe: every endpoint's head, and the way back from the bench --

    async def probe(self) -> None:
        """Ask every endpoint that is due for its head, at once, and update its state."""
        now = self._now()
        due = [i for i, ep in enumerate(self.states) if probe_due(ep, now)]
        await asyncio.gather(*(self._probe_one(i) for i in due))
        self._publish()

    async def _probe_one(self, i: int) -> None:
        ep = self.states[i]
        try:
            answer = await self._post(
                i, "eth_blockNumber", [], min(self.timeout_s, self.probe_interval_s * 2)
            )
            head = _head_of("eth_blockNumber", [], answer.get("result"))
            if head is None:
                raise _FaultError("malformed")
        except _FaultError as fault:
            self._failed(i, fault.reason, None)
            return
        observe_head(ep, head, self._now())
        if ep.benched:
            self._recovered(i)

    def _start_prober(self) -> None:
        loop = asyncio.get_running_loop()
        if self._prober is not None and self._prober.get_loop() is not loop:
            self._prober = None  # a client reused under a new event loop (asyncio.run twice): start afresh
        if len(self.states) > 1 and (self._prober is None or self._prober.done()):
            self._prober = loop.create_task(self._probe_loop(), name="rpc-probe")

    async def _probe_loop(self) -> None:
        while True:
            try:
                await self.probe()
            except Exception as exc:  # a bug here must not stop the probing; CancelledError passes through
                log.error("rpc probe failed", error=type(exc).__name__)
            await asyncio.sleep(self.probe_interval_s)

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session, self._session_loop = aiohttp.ClientSession(), loop
        return self._session

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._prober is not None and self._prober.get_loop() is loop:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        self._prober = None
        if self._session is not None and self._session_loop is loop:
            await self._session.close()
        self._session = None


def _parse(body: bytes, rid: int) -> dict[str, Any] | None:
    """The JSON-RPC answer to request `rid`, or None for anything else (garbage, a batch, another id)."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(answer, dict) or answer.get("id") != rid:
        return None
    if "result" in answer or isinstance(answer.get("error"), dict):
        return answer
    return None
