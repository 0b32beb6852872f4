"""A WebSocket proxy for fault tests: it sits in front of a node's ws:// URL and, on demand, drops every
connection, stalls (stops forwarding subscription notifications, or everything), or refuses new
connections. It runs its own event loop in a thread, so sync tests and asyncio tests control it alike.

    with WsProxy(anvil_ws_url) as proxy:
        watch(proxy.url); proxy.drop(); proxy.stall(); proxy.refuse(); ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.http11 import Request, Response

HOST = "127.0.0.1"


def _is_notification(raw: str | bytes) -> bool:
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(msg, dict) and msg.get("method") == "eth_subscription"


class WsProxy:
    def __init__(self, upstream: str, port: int = 0) -> None:
        self.upstream, self.port = upstream, port
        self.accepted = 0  # connections proxied since start
        self.refused = 0  # handshakes answered 503 while refusing
        self.dropped = 0  # connections cut by drop()
        self.notifications = 0  # notifications forwarded to clients
        self._stall: str | None = None  # None, "notifications" or "everything"
        self._refuse = False
        self._pairs: set[tuple[ServerConnection, ClientConnection]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._closing: set[asyncio.Future[Any]] = set()

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    @property
    def active(self) -> int:
        return len(self._pairs)

    # --- control (from any thread) -----------------------------------------------------------------

    def start(self) -> WsProxy:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="wsproxy", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._server is None:
            raise RuntimeError("the WebSocket proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def drop(self, *, clean: bool = False) -> int:
        """Cut every open connection: a TCP abort (no close frame, as a network failure looks), or a
        normal close with `clean`. Returns how many were cut."""
        n: int = self._run(self._drop(clean))
        return n

    def stall(self, on: bool = True, *, everything: bool = False) -> None:
        """Stop forwarding notifications (replies still flow), or every message from the node."""
        self._stall = ("everything" if everything else "notifications") if on else None

    def refuse(self, on: bool = True) -> None:
        """Answer new handshakes with HTTP 503 (open connections stay)."""
        self._refuse = on

    def __enter__(self) -> WsProxy:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- inside the proxy's loop ----------------------------------------------------------------------

    def _run(self, coro: Any) -> Any:
        assert self._loop is not None, "start the proxy first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)

        async def open_server() -> None:
            self._server = await serve(self._handle, HOST, self.port, process_request=self._gate)
            self.port = int(next(iter(self._server.sockets)).getsockname()[1])

        try:
            self._loop.run_until_complete(open_server())
        finally:
            ready.set()
        self._loop.run_forever()

    def _gate(self, conn: ServerConnection, request: Request) -> Response | None:
        if self._refuse:
            self.refused += 1
            return conn.respond(503, "refused by the test proxy\n")
        return None

    async def _handle(self, client: ServerConnection) -> None:
        try:
            up = await connect(self.upstream, open_timeout=5, close_timeout=1)
        except (OSError, TimeoutError, WebSocketException):
            return  # the node is down: the client sees its connection close
        pair = (client, up)
        self._pairs.add(pair)
        self.accepted += 1
        pumps = [
            asyncio.ensure_future(self._pump(client, up, from_node=False)),
            asyncio.ensure_future(self._pump(up, client, from_node=True)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for p in pumps:
                p.cancel()
            self._pairs.discard(pair)
            await up.close()

    async def _pump(self, src: Any, dst: Any, *, from_node: bool) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in src:
                if from_node and self._stall == "everything":
                    continue
                if from_node and _is_notification(raw):
                    if self._stall:
                        continue
                    self.notifications += 1
                await dst.send(raw)

    async def _drop(self, clean: bool) -> int:
        """Cuts without waiting for the other side: the caller may be the client's own (blocked) loop."""
        pairs = list(self._pairs)
        for client, up in pairs:
            self._pairs.discard((client, up))
            if clean:
                self._later(client.close(1001, "test proxy drop"))
            else:
                client.transport.abort()
            self._later(up.close())
        self.dropped += len(pairs)
        return len(pairs)

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _shutdown(self) -> None:
        await self._drop(clean=False)
        if self._closing:
            await asyncio.wait(list(self._closing), timeout=2)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
