"""A JSON-RPC proxy that breaks on purpose: it sits between liqbot and anvil and drops connections, delays,
answers HTTP 5xx or 429, sends bodies that are not JSON, cuts answers short, or freezes the head it reports.

It runs its own event loop in a thread, so it serves sync and async tests alike, and its faults change at run
time (`proxy.faults = Faults(...)`, `proxy.freeze()`, `proxy.clear()`). Each fault has a probability (1.0:
always); `seed` makes a run repeatable. `proxy.injected` counts what it did, so a test can check that the
faults really happened. HTTP/1.1 is spoken by hand on raw sockets, because a real HTTP server would not let
us close a socket halfway through an answer.

    python -m liqbot.harness.faultproxy http://127.0.0.1:8545 --port 9545 --drop 0.2 --garbage 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from liqbot.config.secrets import redact_url

GARBAGE = (  # HTTP 200 bodies that are not the answer: broken JSON, an HTML page, someone else's answer
    b'{"jsonrpc":"2.0","id":1,"result":0x<html>bad gateway',
    b"<html><body>502 Bad Gateway</body></html>",
    b'{"jsonrpc":"2.0","id":-7,"result":"0x1"}',
)
_BLOCK_AT = {"eth_call": 1, "eth_getBalance": 1, "eth_getCode": 1, "eth_getBlockByNumber": 0}
FAULT_KINDS = ("drop", "truncate", "http_5xx", "rate_limit", "garbage", "delay")


@dataclass(frozen=True)
class Faults:
    """Probabilities per request (0 never, 1 always), tried in this order; `delay_s` applies with `delay`."""

    drop: float = 0.0  # close the socket without answering
    truncate: float = 0.0  # send half of the answer, then close the socket
    http_5xx: float = 0.0  # HTTP 503
    rate_limit: float = 0.0  # HTTP 429
    garbage: float = 0.0  # HTTP 200 with a body that is not JSON
    delay: float = 0.0  # wait delay_s before answering
    delay_s: float = 0.0


class FaultProxy:
    def __init__(self, upstream: str, *, port: int = 0, faults: Faults | None = None, seed: int = 0) -> None:
        self.upstream, self.port = upstream, port
        self.faults = faults or Faults()
        self.frozen_head: int | None = None
        self.injected: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()  # every request received, by JSON-RPC method
        self._rng = random.Random(seed)  # noqa: S311 -- fault dice, not cryptography
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control (from any thread) --

    def set(self, **faults: float) -> None:
        self.faults = replace(self.faults, **faults)

    def freeze(self, head: int | None = None) -> int:
        """Report `head` (default: the current one) as the head from now on; returns it."""
        if head is None:
            head = int(self._call("eth_blockNumber", []), 16)
        self.frozen_head = head
        return head

    def clear(self) -> None:
        self.faults, self.frozen_head = Faults(), None

    def _call(self, method: str, params: list[Any]) -> Any:
        fut = asyncio.run_coroutine_threadsafe(self._upstream_call(method, params), self._loop)
        return fut.result(timeout=30)

    # -- lifecycle --

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"faultproxy-{self.port}", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        if self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._thread = None

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- serving --

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while not await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:  # our stop(); 3.11's stream callback chokes on a cancelled task
            return
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request on a kept-alive connection; True when the connection is done."""
        head = await reader.readuntil(b"\r\n\r\n")
        headers = dict(line.split(":", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ":" in line)
        lowered = {k.strip().lower(): v.strip() for k, v in headers.items()}
        body = await reader.readexactly(int(lowered.get("content-length", "0")))
        self.methods[_method(body)] += 1
        f, roll = self.faults, self._rng.random
        if roll() < f.drop:
            self.injected["drop"] += 1
            return True
        if roll() < f.delay and f.delay_s > 0:
            self.injected["delay"] += 1
            await asyncio.sleep(f.delay_s)
        if roll() < f.http_5xx:
            self.injected["http_5xx"] += 1
            await _answer(writer, 503, b"Service Unavailable", "text/plain")
            return False
        if roll() < f.rate_limit:
            self.injected["rate_limit"] += 1
            await _answer(writer, 429, b'{"error":"Too Many Requests"}')
            return False
        if roll() < f.garbage:
            self.injected["garbage"] += 1
            await _answer(writer, 200, self._rng.choice(GARBAGE))
            return False
        status, out = await self._forward(body)
        if roll() < f.truncate:
            self.injected["truncate"] += 1
            await _answer(writer, status, out, cut=True)
            return True
        await _answer(writer, status, out)
        return lowered.get("connection", "").lower() == "close"

    async def _forward(self, body: bytes) -> tuple[int, bytes]:
        frozen = self.frozen_head
        if frozen is not None:
            try:
                req = json.loads(body)
            except ValueError:
                req = None
            if isinstance(req, dict):
                answer = await self._frozen(req, frozen)
                if answer is not None:
                    self.injected["frozen_head"] += 1
                    return 200, json.dumps(answer).encode()
        assert self._session is not None  # set in _start
        async with self._session.post(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            return resp.status, await resp.read()

    async def _frozen(self, req: dict[str, Any], head: int) -> dict[str, Any] | None:
        """What a node stuck at `head` answers, or None for a call that passes through: its head for
        eth_blockNumber and "latest"; "header not found" for a later block (as geth); and eth_getLogs cut at
        its head without a word (as some nodes do, which is why the pool must not ask it)."""
        method, params, rid = req.get("method"), list(req.get("params") or []), req.get("id")
        if method == "eth_blockNumber":
            return {"jsonrpc": "2.0", "id": rid, "result": hex(head)}
        if method == "eth_getBlockByNumber" and params and params[0] == "latest":
            block = await self._upstream_call("eth_getBlockByNumber", [hex(head), *params[1:]])
            return {"jsonrpc": "2.0", "id": rid, "result": block}
        if method == "eth_getLogs" and params and isinstance(params[0], dict):
            to = params[0].get("toBlock")
            if isinstance(to, str) and to.startswith("0x") and int(to, 16) > head:
                logs = await self._upstream_call("eth_getLogs", [{**params[0], "toBlock": hex(head)}])
                return {"jsonrpc": "2.0", "id": rid, "result": logs}
            return None
        at = _BLOCK_AT.get(str(method))
        tag = params[at] if at is not None and len(params) > at else None
        if isinstance(tag, str) and tag.startswith("0x") and int(tag, 16) > head:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": "header not found"}}
        return None

    async def _upstream_call(self, method: str, params: list[Any]) -> Any:
        assert self._session is not None  # set in _start
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        async with self._session.post(self.upstream, json=payload) as resp:
            return (await resp.json())["result"]


def _method(body: bytes) -> str:
    try:
        req = json.loads(body)
    except ValueError:
        return "?"
    return str(req.get("method", "?")) if isinstance(req, dict) else "batch"


async def _answer(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    ctype: str = "application/json",
    *,
    cut: bool = False,
) -> None:
    reason = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Status")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + (body[: len(body) // 2] if cut else body))
    await writer.drain()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m liqbot.harness.faultproxy", description="JSON-RPC proxy that injects faults"
    )
    p.add_argument("upstream")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--delay-s", type=float, default=0.0)
    p.add_argument("--freeze", action="store_true", help="report the head at start from then on")
    for kind in FAULT_KINDS:
        p.add_argument(f"--{kind.replace('_', '-')}", type=float, default=0.0, metavar="P")
    args = p.parse_args(argv)
    faults = Faults(**{k: getattr(args, k) for k in FAULT_KINDS}, delay_s=args.delay_s)
    proxy = FaultProxy(args.upstream, port=args.port, faults=faults, seed=args.seed).start()
    if args.freeze:
        proxy.freeze()
    print(f"fault proxy on {proxy.url} -> {redact_url(args.upstream)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
