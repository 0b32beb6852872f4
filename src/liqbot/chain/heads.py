"""New heads over WebSocket (eth_subscribe newHeads), kept alive across drops, stalls and dead endpoints.

The watcher only wakes the pipeline; it never decides what to apply. The pipeline's step always fetches
logs by eth_getLogs from its stored cursor (last processed block + 1) to the head, so blocks missed while
the stream was down are backfilled by the next step and every event is applied exactly once. A dead WS
never stops the bot: the pipeline keeps polling HTTP as a fallback."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, WebSocketException

from liqbot.chain.headpolicy import (
    Endpoints,
    Head,
    HeadKind,
    HeadTracker,
    Message,
    Timing,
    next_wait,
    parse_head,
    parse_message,
)
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.heads")


class SessionEnded(Exception):  # noqa: N818 - a control-flow signal, not an error for the operator
    """Why the current WebSocket session is given up (the reason is a metric label)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


class HeadWatcher:
    def __init__(
        self,
        chain: str,
        urls: tuple[str, ...],
        block_time_s: float,
        metrics: Metrics | None = None,
        *,
        timing: Timing | None = None,
        endpoints: Endpoints | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain, self.metrics, self.clock = chain, metrics, clock
        self.block_time_s = block_time_s
        self.timing = timing or Timing.for_block_time(block_time_s)
        self.endpoints = endpoints or Endpoints(
            urls, failback_s=max(60.0, 20 * block_time_s), rand=random.random
        )
        self.tracker = HeadTracker()
        self.latest: int | None = None  # the newest head number announced (by a head or a check)
        self.live = False  # subscribed right now
        self.current: int | None = None  # endpoint index in use
        self.sessions = 0  # subscriptions made (the first one and every resubscription)
        self.elsewhere = 0  # the newest head known from another source (the pipeline's HTTP reads)
        self.wakes = 0
        self._wake = asyncio.Event()
        self._ids = itertools.count(1)

    # --- for the pipeline -------------------------------------------------------------------------

    async def wait(self, seen: int, timeout: float, stop: asyncio.Event | None = None) -> int:
        """Return once there was a wake after `seen` (a previous return value), `stop` is set, or
        `timeout` passes; returns the wake count to pass next time."""
        if self.wakes == seen:
            self._wake.clear()
            waiters = [asyncio.ensure_future(self._wake.wait())]
            if stop is not None:
                waiters.append(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
        return self.wakes

    def note_head(self, number: int) -> None:
        """A head seen elsewhere (HTTP): a silent endpoint below it is stuck, not idle."""
        self.elsewhere = max(self.elsewhere, number)

    def next_wait(self, processed: int, poll_s: float) -> float:
        return next_wait(self.live, self.latest, processed, poll_s, self.block_time_s)

    # --- the loop ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: pick an endpoint, subscribe, listen; on any failure rest that endpoint and go on."""
        while True:
            idx, wait = self.endpoints.choose(self.clock())
            if wait > 0:
                await asyncio.sleep(wait)
            label = self.endpoints.labels[idx]
            try:
                await self._session(idx)
                raise SessionEnded("closed")  # _session only returns by raising; keeps mypy honest
            except SessionEnded as end:
                reason, detail = end.reason, end.detail
            except ConnectionClosed as exc:
                reason, detail = "closed", _describe(exc)
            except InvalidHandshake as exc:
                reason, detail = "refused", _describe(exc)
            except InvalidURI:
                reason, detail = "bad_url", "the URL is not a WebSocket URL"
            except TimeoutError:
                reason, detail = "timeout", "no answer in time"
            except OSError as exc:
                reason, detail = "connect_error", _describe(exc)
            except WebSocketException as exc:
                reason, detail = "ws_error", _describe(exc)
            finally:
                self._set_live(idx, False)
            rest = 0.0 if reason == "failback" else self.endpoints.failed(idx, self.clock())
            if self.metrics:
                self.metrics.ws_reconnects.labels(self.chain, label, reason).inc()
            say = log.info if reason == "failback" else log.warning
            say("ws session ended", chain=self.chain, endpoint=label, reason=reason, detail=detail,
                rest_s=round(rest, 2))  # fmt: skip

    async def _session(self, idx: int) -> None:
        """Connect, subscribe, then listen until something ends the session (always by raising)."""
        url = self.endpoints.urls[idx]
        t = self.timing
        async with connect(
            url, open_timeout=t.open_s, close_timeout=1.0, ping_interval=t.silence_s, ping_timeout=t.probe_s
        ) as ws:
            sub = await asyncio.wait_for(self._call(ws, "eth_subscribe", "newHeads"), t.open_s)
            if not isinstance(sub, str):
                raise SessionEnded("subscribe_error", "eth_subscribe returned no subscription id")
            call = self._call(ws, "eth_blockNumber", sub=sub, idx=idx)
            number = _hex(await asyncio.wait_for(call, t.probe_s))
            connected_at = self.clock()
            self.sessions += 1
            self._set_live(idx, True)
            log.info("ws subscribed", chain=self.chain, endpoint=self.endpoints.labels[idx], head=number)
            self._announce(number)  # wake the pipeline: its next step backfills whatever the gap held
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), t.silence_s)
                except TimeoutError:
                    await self._check(ws, sub, idx)
                else:
                    self._dispatch(raw, sub, idx)
                better = self.endpoints.failback(idx, connected_at, self.clock())
                if better is not None:
                    raise SessionEnded("failback", f"back to {self.endpoints.labels[better]}")

    async def _check(self, ws: ClientConnection, sub: str, idx: int) -> None:
        """Silence: ask the node its head. No newer head means an idle chain; a newer one whose
        notification does not follow within the grace means the subscription stalled; one below a head
        seen elsewhere means the node itself is stuck."""
        t = self.timing
        known = self.latest
        call = self._call(ws, "eth_blockNumber", sub=sub, idx=idx)
        number = _hex(await asyncio.wait_for(call, t.probe_s))
        if number < self.elsewhere:
            raise SessionEnded("behind", f"node is at block {number}, the chain at {self.elsewhere}")
        if self.latest is None or number <= self.latest:
            return
        deadline = self.clock() + t.grace_s
        while (left := deadline - self.clock()) > 0:
            try:
                raw = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            seen = self._dispatch(raw, sub, idx)
            if seen is not None and seen >= number:
                return
        self._announce(number)
        raise SessionEnded("stalled", f"node is at block {number}, no notification past {known}")

    async def _call(
        self, ws: ClientConnection, method: str, *params: Any, sub: str | None = None, idx: int = 0
    ) -> Any:
        """One JSON-RPC call on the socket; notifications that arrive meanwhile are still handled. Replies
        are matched by id, so a late answer to an old request is never taken for this one."""
        rid = next(self._ids)
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}))
        while True:
            msg = _parse(await ws.recv())
            if msg.subscription is not None:
                if sub is not None:
                    self._handle(msg, sub, idx)
                continue
            if msg.id != rid:
                continue
            if msg.error is not None:
                raise SessionEnded("rpc_error", f"{method}: {msg.error}")
            return msg.result

    def _dispatch(self, raw: str | bytes, sub: str, idx: int) -> int | None:
        msg = _parse(raw)
        return self._handle(msg, sub, idx) if msg.subscription is not None else None

    def _handle(self, msg: Message, sub: str, idx: int) -> int | None:
        if msg.subscription != sub:
            return None  # an earlier subscription's late notification
        try:
            head = parse_head(msg.result)
        except ValueError as exc:
            raise SessionEnded("bad_message", str(exc)) from None
        self._on_head(head, idx)
        return head.number

    def _on_head(self, head: Head, idx: int) -> None:
        kind = self.tracker.observe(head)
        if kind is HeadKind.DUPLICATE:
            return
        self.endpoints.healthy(idx)
        if self.metrics:
            self.metrics.ws_heads.labels(self.chain).inc()
            if kind in (HeadKind.GAP, HeadKind.REORG):
                self.metrics.ws_head_anomalies.labels(self.chain, kind.value).inc()
        if kind is HeadKind.REORG:
            log.warning("ws head reorg", chain=self.chain, block=head.number, hash=head.hash)
        self.latest = head.number
        self._wake_up()

    def _announce(self, number: int) -> None:
        if self.latest is None or number > self.latest:
            self.latest = number
        self._wake_up()

    def _wake_up(self) -> None:
        self.wakes += 1
        self._wake.set()

    def _set_live(self, idx: int, live: bool) -> None:
        if live == self.live and idx == self.current:
            return
        self.live, self.current = live, idx if live else None
        if self.metrics:
            self.metrics.ws_connected.labels(self.chain, self.endpoints.labels[idx]).set(int(live))


def _parse(raw: str | bytes) -> Message:
    try:
        return parse_message(raw)
    except ValueError as exc:
        raise SessionEnded("bad_message", str(exc)) from None


def _hex(value: Any) -> int:
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        raise SessionEnded("bad_message", "eth_blockNumber did not return a hex number") from None


def _describe(exc: BaseException) -> str:
    """The error's type and message without any URL (a keyed URL must never reach a log)."""
    text = str(exc)
    return type(exc).__name__ + (f": {text}" if text and "://" not in text else "")
