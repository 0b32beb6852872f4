"""Send many transactions from impersonated accounts in block-sized chunks, mining between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet.rpc import DevnetRpc

BLOCK_GAS_BUDGET = 28_000_000  # under anvil's 30M limit: a full block can silently drop later txs


@dataclass(frozen=True)
class Tx:
    sender: str
    to: str
    data: str
    gas: int
    label: str


class ManualMining:
    """Context manager: automine and interval mining off inside, restored to `block_time` after."""

    def __init__(self, rpc: DevnetRpc, block_time: float | None) -> None:
        self.rpc, self.block_time = rpc, block_time

    def __enter__(self) -> ManualMining:
        self.rpc.call("evm_setIntervalMining", 0)
        self.rpc.call("evm_setAutomine", False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.block_time:
            self.rpc.call("evm_setIntervalMining", int(self.block_time))
        else:
            self.rpc.call("evm_setAutomine", True)


def send_all(rpc: DevnetRpc, txs: list[Tx], nonces: dict[str, int]) -> int:
    """Send `txs` in order, mining block-sized chunks; return gas used. Raises on a revert."""
    gas_used = 0
    chunk: list[Tx] = []
    budget = 0
    for tx in txs:
        if budget + tx.gas > BLOCK_GAS_BUDGET and chunk:
            gas_used += _send_chunk(rpc, chunk, nonces)
            chunk, budget = [], 0
        chunk.append(tx)
        budget += tx.gas
    if chunk:
        gas_used += _send_chunk(rpc, chunk, nonces)
    return gas_used


def _send_chunk(rpc: DevnetRpc, chunk: list[Tx], nonces: dict[str, int]) -> int:
    calls: list[tuple[str, list[Any]]] = []
    for tx in chunk:
        nonce = nonces.get(tx.sender, 0)
        nonces[tx.sender] = nonce + 1
        calls.append(
            (
                "eth_sendTransaction",
                [{"from": tx.sender, "to": tx.to, "data": tx.data, "gas": hex(tx.gas), "nonce": hex(nonce)}],
            )
        )
    hashes = rpc.batch(calls)
    rpc.mine()
    receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    for _ in range(3):  # a tx anvil left in the pool goes into the next block
        if all(receipts):
            break
        rpc.mine()
        receipts = rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    used = 0
    for tx, h, r in zip(chunk, hashes, receipts, strict=True):
        if r is None:
            raise DevnetError(f"{tx.label} from {tx.sender} was never mined (tx {h})")
        if int(r["status"], 16) != 1:
            raise DevnetError(
                f"{tx.label} from {tx.sender} reverted (tx {h}, gas used {int(r['gasUsed'], 16)})"
            )
        used += int(r["gasUsed"], 16)
    return used
