"""Async JSON-RPC access for one chain: raw calls, eth_call, Multicall3 batches, logs, heads.

Thin on purpose: counts every call by method (for metrics and the RPC-per-block benchmark) and turns node
errors into liqbot errors. The calls go through an RPC pool (chain/pool.py) over all of the chain's HTTP
endpoints, which fails over between them; a JSON-RPC error (a revert) comes back here as RpcError."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eth_abi import decode, encode

from liqbot.chain.pool import PoolObserver, RpcPool
from liqbot.chain.scoring import Policy
from liqbot.core.errors import RetryableError

if TYPE_CHECKING:
    from liqbot.config.models import ChainConfig
    from liqbot.telemetry.metrics import Metrics

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
AGGREGATE3 = bytes.fromhex("82ad56cb")  # aggregate3((address,bool,bytes)[])
MULTICALL_CHUNK = 400


class RpcError(RetryableError):
    def __init__(self, method: str, error: Any) -> None:
        super().__init__(f"{method} failed: {error}")
        self.method, self.error = method, error


class ChainClient:
    def __init__(
        self,
        url: str | Sequence[str],
        chain_id: int,
        timeout: float = 15.0,
        *,
        policy: Policy | None = None,
        probe_interval_s: float = 2.0,
        observer: PoolObserver | None = None,
    ) -> None:
        from liqbot.chain.errors import endpoint_fault  # errors.py imports this module: import it late

        urls = [url] if isinstance(url, str) else [str(u) for u in url]
        self.url, self.chain_id = urls[0], chain_id
        self.pool = RpcPool(
            urls,
            timeout_s=timeout,
            policy=policy,
            probe_interval_s=probe_interval_s,
            classify=endpoint_fault,
            observer=observer,
        )
        self.calls: Counter[str] = Counter()

    @classmethod
    def for_chain(cls, chain: ChainConfig, metrics: Metrics | None = None) -> ChainClient:
        """A client over every HTTP endpoint of `chain`, with its failover settings."""
        policy = Policy(
            max_lag_blocks=chain.rpc_max_lag_blocks,
            stall_s=chain.rpc_stall_blocks * chain.block_time_s,
            bench_max_s=chain.rpc_bench_max_s,
        )
        return cls(
            [str(u) for u in chain.rpc_http],
            chain.chain_id,
            chain.rpc_timeout_s,
            policy=policy,
            probe_interval_s=min(max(chain.block_time_s, 0.5), 15.0),
            observer=metrics.rpc_observer(chain.name) if metrics is not None else None,
        )

    async def request(self, method: str, *params: Any) -> Any:
        self.calls[method] += 1
        resp = await self.pool.request(method, params)
        if "error" in resp:
            raise RpcError(method, resp["error"])
        return resp.get("result")

    async def block_number(self) -> int:
        return int(await self.request("eth_blockNumber"), 16)

    async def block(self, number: int | str = "latest") -> dict[str, Any]:
        tag = hex(number) if isinstance(number, int) else number
        result: dict[str, Any] = await self.request("eth_getBlockByNumber", tag, False)
        return result

    async def eth_call(
        self,
        to: str,
        data: bytes,
        block: int | str = "latest",
        *,
        sender: str | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        tx: dict[str, Any] = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        params: list[Any] = [tx, tag] + ([overrides] if overrides else [])
        out = await self.request("eth_call", *params)
        return bytes.fromhex(str(out).removeprefix("0x"))

    async def multicall(
        self, calls: Sequence[tuple[str, bytes]], block: int | str = "latest", multicall: str = MULTICALL3
    ) -> list[tuple[bool, bytes]]:
        """aggregate3 with allowFailure=true, in chunks; one eth_call per chunk."""
        out: list[tuple[bool, bytes]] = []
        for i in range(0, len(calls), MULTICALL_CHUNK):
            chunk = [(t, True, d) for t, d in calls[i : i + MULTICALL_CHUNK]]
            data = AGGREGATE3 + encode(["(address,bool,bytes)[]"], [chunk])
            raw = await self.eth_call(multicall, data, block)
            (results,) = decode(["(bool,bytes)[]"], raw)
            out += [(bool(ok), bytes(ret)) for ok, ret in results]
        return out

    async def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str], topics: Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        flt: dict[str, Any] = {
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "address": list(addresses),
        }
        if topics is not None:
            flt["topics"] = list(topics)
        result: list[dict[str, Any]] = await self.request("eth_getLogs", flt)
        return result

    async def close(self) -> None:
        await self.pool.close()
