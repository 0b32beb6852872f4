"""`liqbot devnet up|down|status|populate|shock`: the run files, the state cache, and the generated config."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet import anvil, solc
from liqbot.harness.devnet.config_file import write_config
from liqbot.harness.devnet.deploy import deploy_all
from liqbot.harness.devnet.paths import build_cache_dir, contracts_dir, npm_package, write_atomic
from liqbot.harness.devnet.populate import Borrower, populate
from liqbot.harness.devnet.rpc import DevnetRpc
from liqbot.harness.devnet.shock import refresh_feeds, shock

BASE_CHAIN_ID = 31337
_NPM = ("@aave/core-v3", "@uniswap/v3-core", "@uniswap/v3-periphery", "@safe-global/safe-contracts",
        "@morpho-org/morpho-blue", "@foundry-rs/anvil", "solc")  # fmt: skip


@dataclass(frozen=True)
class ChainRun:
    name: str
    chain_id: int
    port: int
    pid: int
    l2: bool
    block_time: float
    log: str

    @property
    def url(self) -> str:
        return f"http://{anvil.HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{anvil.HOST}:{self.port}"


@dataclass(frozen=True)
class Devnet:
    dir: Path
    chains: tuple[ChainRun, ...]

    @property
    def run_file(self) -> Path:
        return self.dir / "devnet.json"

    def chain(self, name: str | None = None) -> ChainRun:
        if name is None:
            return self.chains[0]
        for c in self.chains:
            if c.name == name:
                return c
        raise DevnetError(
            f"no devnet chain named {name!r}: running chains are {', '.join(c.name for c in self.chains)}"
        )

    def addresses(self, name: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.dir / "addresses.json").read_text())
        return dict(data[self.chain(name).name])

    def rpc(self, name: str | None = None) -> DevnetRpc:
        return DevnetRpc(self.chain(name).url)


def load(state_dir: Path) -> Devnet:
    run_file = state_dir / "devnet.json"
    if not run_file.is_file():
        raise DevnetError(f"no devnet is running from {state_dir}: start one with `liqbot devnet up`")
    raw = json.loads(run_file.read_text())
    return Devnet(state_dir, tuple(ChainRun(**c) for c in raw["chains"]))


def _cache_key() -> str:
    h = hashlib.sha256()
    for pkg in _NPM:
        h.update((npm_package(pkg) / "package.json").read_bytes())
    here = Path(__file__).parent
    deps = [*here.glob("deploy*.py"), here / "spec.py", here / "executor.py"]
    deps += [*(contracts_dir() / "devnet").glob("*.sol"), contracts_dir() / "build" / "LiqExecutor.json"]
    for f in sorted(deps):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _start_chain(
    state_dir: Path, name: str, chain_id: int, port: int, l2: bool, grace: int
) -> tuple[anvil.AnvilProcess, dict[str, Any]]:
    """Start from the cached post-deploy state when there is one; else deploy and cache the state."""
    stem = build_cache_dir() / f"{_cache_key()}-{chain_id}-{'l2' if l2 else 'l1'}-g{grace}"
    state_file, addr_file = stem.with_suffix(".state.json"), stem.with_suffix(".addresses.json")
    log = state_dir / f"anvil-{name}.log"
    if state_file.is_file() and addr_file.is_file():
        proc = anvil.start(port, chain_id, log, load_state=state_file)
        addresses = json.loads(addr_file.read_text())
        refresh_feeds(DevnetRpc(proc.url), addresses)
        return proc, addresses
    proc = anvil.start(port, chain_id, log)
    try:
        rpc = DevnetRpc(proc.url)
        addresses = deploy_all(rpc, l2=l2, grace_period_s=grace)
        dump = rpc.call("anvil_dumpState")
        write_atomic(state_file, gzip.decompress(bytes.fromhex(dump.removeprefix("0x"))))
        write_atomic(addr_file, json.dumps(addresses, indent=2).encode())
    except BaseException:
        anvil.stop(proc.pid)
        raise
    return proc, addresses


def up(state_dir: Path, *, chains: int = 1, l2: bool = False, port: int = 8545, block_time: float = 1.0,
       grace_period_s: int = 3600) -> Devnet:  # fmt: skip
    if chains not in (1, 2):
        raise DevnetError(
            f"--chains {chains} is not supported: use 1, or 2 for an L1-like and an L2-like chain"
        )
    if (state_dir / "devnet.json").is_file():
        running = [c for c in load(state_dir).chains if anvil.pid_alive(c.pid)]
        if running:
            pids = ", ".join(str(c.pid) for c in running)
            raise DevnetError(
                f"a devnet is already running (pid {pids}): `liqbot devnet down` first, or use it as it is"
            )
    plan = [("devnet", l2)] if chains == 1 else [("devnet-l1", False), ("devnet-l2", True)]
    for i in range(chains):
        if anvil.port_in_use(port + i):
            raise DevnetError(
                f"port {port + i} on 127.0.0.1 is already in use: free it or pass --port with another base"
            )
    state_dir.mkdir(parents=True, exist_ok=True)
    runs: list[ChainRun] = []
    book: dict[str, Any] = {}
    try:
        for i, (name, is_l2) in enumerate(plan):
            proc, addresses = _start_chain(
                state_dir, name, BASE_CHAIN_ID + i, port + i, is_l2, grace_period_s
            )
            runs.append(ChainRun(name, proc.chain_id, proc.port, proc.pid, is_l2, block_time, str(proc.log)))
            if block_time:
                DevnetRpc(proc.url).call("evm_setIntervalMining", int(block_time))
            book[name] = addresses
    except BaseException:
        for r in runs:
            anvil.stop(r.pid)
        raise
    devnet = Devnet(state_dir, tuple(runs))
    (state_dir / "addresses.json").write_text(json.dumps(book, indent=2))
    devnet.run_file.write_text(json.dumps({"chains": [asdict(r) for r in runs]}, indent=2))
    write_config(state_dir / "liqbot.yaml", devnet_chains(devnet), state_dir)
    return devnet


def devnet_chains(devnet: Devnet) -> list[tuple[ChainRun, dict[str, Any]]]:
    return [(c, devnet.addresses(c.name)) for c in devnet.chains]


def down(state_dir: Path) -> list[ChainRun]:
    """Stop every anvil `up` started, by pid; the run files stay for inspection except devnet.json."""
    devnet = load(state_dir)
    stopped = [c for c in devnet.chains if anvil.stop(c.pid)]
    devnet.run_file.unlink()
    return stopped


def do_populate(devnet: Devnet, n: int, seed: int, chain: str | None = None) -> list[Borrower]:
    c = devnet.chain(chain)
    morpho_abi = solc.compile_morpho()["Morpho.sol:Morpho"]["abi"]
    borrowers = populate(devnet.rpc(c.name), devnet.addresses(c.name), morpho_abi, n, seed, c.block_time)
    book = devnet.dir / f"borrowers-{c.name}.json"
    known = json.loads(book.read_text()) if book.is_file() else []
    seen = {b["address"] for b in known}
    known += [asdict(b) for b in borrowers if b.address not in seen]
    book.write_text(json.dumps(known))
    return borrowers


def borrowers(devnet: Devnet, chain: str | None = None) -> list[dict[str, Any]]:
    book = devnet.dir / f"borrowers-{devnet.chain(chain).name}.json"
    result: list[dict[str, Any]] = json.loads(book.read_text()) if book.is_file() else []
    return result


def do_shock(devnet: Devnet, asset: str, pct: float, chain: str | None = None) -> dict[str, int]:
    c = devnet.chain(chain)
    return shock(devnet.rpc(c.name), devnet.addresses(c.name), asset, pct, c.block_time)
