"""A web3.py provider that sends through a ChainClient's RPC pool, so code written against AsyncWeb3 (the
Uniswap quotes, the fee history) fails over like every other call. JSON-RPC errors go back to web3 as
answers, which raises its own exceptions for them (a revert is ContractLogicError, as before)."""

from __future__ import annotations

import json
from typing import Any, cast

from web3 import AsyncWeb3
from web3.providers.async_base import AsyncJSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from liqbot.chain.client import ChainClient
from liqbot.chain.pool import RpcPool


class PoolProvider(AsyncJSONBaseProvider):
    def __init__(self, pool: RpcPool) -> None:
        super().__init__()
        self.pool = pool

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        # web3's own encoder turns HexBytes, AttributeDicts and the like into JSON, as its HTTP provider does
        plain = json.loads(self.encode_rpc_request(method, params))["params"]
        return cast(RPCResponse, await self.pool.request(str(method), plain))

    async def is_connected(self, show_traceback: bool = False) -> bool:
        return True  # the pool picks a live endpoint per call

    async def disconnect(self) -> None:
        """Nothing of its own to close: the pool belongs to the ChainClient, which closes it."""


def pooled_web3(client: ChainClient) -> AsyncWeb3[Any]:
    """AsyncWeb3 over the client's pool; no middleware, so no eth_chainId per call."""
    return AsyncWeb3(PoolProvider(client.pool), middleware=[])
