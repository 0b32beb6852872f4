"""Market facts read from the chain: DEX quotes (quotes), EIP-1559 fees and L2 data fees (gas)."""

from __future__ import annotations

from typing import Any

import aiohttp
from eth_abi.exceptions import DecodingError
from web3 import AsyncWeb3
from web3.exceptions import Web3Exception

AsyncW3 = AsyncWeb3[Any]  # any async provider (HTTP in the engine, a stub in tests)

# What a read can fail with: a JSON-RPC error or revert, a dropped or timed-out connection, an answer that
# does not decode. The I/O functions turn these into None (unknown), which the strategy turns into a skip.
READ_ERRORS: tuple[type[Exception], ...] = (
    Web3Exception,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    DecodingError,
)
