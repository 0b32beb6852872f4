"""Devnet speed: `up` from the cached state vs a full deploy, and batched `populate` vs the naive way
(one transaction at a time, waiting for each receipt), measured in the same run.

    .venv/bin/python benchmarks/bench_devnet.py [--borrowers 1000] [--naive 200]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from liqbot.harness.devnet import anvil, deploy, manager, populate, solc
from liqbot.harness.devnet.rpc import DevnetRpc

PORT = 38545


def timed(label: str, fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    dt = time.perf_counter() - t0
    print(f"{label:<48} {dt:8.2f} s")
    return dt


def naive_populate(rpc: DevnetRpc, a: dict[str, object], abi: list[dict[str, object]], n: int) -> None:
    """The same transactions, each sent alone with automine, waiting for its receipt."""
    borrowers = populate.plan(999, n, a["morpho"]["markets"])  # type: ignore[index]
    rpc.call("anvil_autoImpersonateAccount", True)
    for b in borrowers:
        rpc.call("anvil_setBalance", b.address, hex(10**20))
        txs = (
            populate._aave_txs(rpc, a, b) if b.protocol == "aave_v3" else populate._morpho_txs(rpc, a, abi, b)
        )  # fmt: skip
        for tx in txs:
            h = rpc.call(
                "eth_sendTransaction", {"from": tx.sender, "to": tx.to, "data": tx.data, "gas": hex(tx.gas)}
            )
            rpc.w3.eth.wait_for_transaction_receipt(h)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--borrowers", type=int, default=1000)
    ap.add_argument("--naive", type=int, default=200)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as d:
        state = Path(d)
        # Cold deploy (solc output cached, as after the first install) on a bare anvil.
        proc = anvil.start(PORT, 31337, state / "cold.log")
        try:
            cold = timed("deploy the whole market on a fresh anvil", lambda: deploy.deploy_all(
                DevnetRpc(proc.url), l2=False, grace_period_s=3600))  # fmt: skip
        finally:
            anvil.stop(proc.pid)
        manager.up(state / "warm-prime", port=PORT, block_time=0)  # make sure the cache exists
        manager.down(state / "warm-prime")
        box: dict[str, manager.Devnet] = {}
        warm = timed("`devnet up` from the cached state", lambda: box.setdefault(
            "d", manager.up(state / "warm", port=PORT, block_time=0)))  # fmt: skip
        devnet = box["d"]
        try:
            rpc, a = devnet.rpc(), devnet.addresses()
            abi = solc.compile_morpho()["Morpho.sol:Morpho"]["abi"]
            n = args.naive
            snap = rpc.snapshot()
            batched_small = timed(
                f"populate {n} borrowers, batched", lambda: manager.do_populate(devnet, n, 1)
            )
            rpc.revert(snap)
            naive_small = timed(
                f"populate {n} borrowers, naive (tx by tx)", lambda: naive_populate(rpc, a, abi, n)
            )
            big = timed(f"populate {args.borrowers} borrowers, batched",
                        lambda: manager.do_populate(devnet, args.borrowers, 2))  # fmt: skip
            snaps = []
            t0 = time.perf_counter()
            for _ in range(20):
                s = rpc.snapshot()
                rpc.revert(s)
                snaps.append(s)
            per_reset = (time.perf_counter() - t0) / 20
            print(f"{'snapshot + revert (clean chain per test)':<48} {per_reset * 1000:8.1f} ms")
        finally:
            manager.down(state / "warm")
    print(f"ratio: `up` from cache vs full deploy: {cold / warm:.1f}x faster")
    print(f"ratio: populate batched vs naive: {naive_small / batched_small:.1f}x faster ({n} borrowers)")
    print(f"populate {args.borrowers} borrowers: {big:.1f} s")


if __name__ == "__main__":
    main()
