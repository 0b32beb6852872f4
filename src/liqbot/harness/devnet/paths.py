"""Where the devnet finds its npm packages and keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

from liqbot.core.errors import DevnetError

_INSTALL_HINT = "run `make setup` (or `npm install`) in the liqbot checkout first"


def project_root() -> Path:
    """The checkout holding node_modules: $LIQBOT_HOME, else a parent of cwd, else the source tree."""
    env = os.environ.get("LIQBOT_HOME")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for cand in (here, *here.parents):
        if (cand / "node_modules" / "@foundry-rs").is_dir():
            return cand
    return Path(__file__).resolve().parents[4]


def node_modules() -> Path:
    path = project_root() / "node_modules"
    if not path.is_dir():
        raise DevnetError(f"npm packages not found at {path}: {_INSTALL_HINT}")
    return path


def npm_package(name: str) -> Path:
    path = node_modules() / name
    if not path.is_dir():
        raise DevnetError(f"npm package {name} is not installed: {_INSTALL_HINT}")
    return path


def anvil_binary() -> Path:
    path = npm_package("@foundry-rs/anvil-linux-amd64") / "bin" / "anvil"
    if not path.is_file():
        raise DevnetError(f"anvil binary missing at {path}: {_INSTALL_HINT}")
    return path


def contracts_dir() -> Path:
    return project_root() / "contracts"


def default_state_dir() -> Path:
    """Run files (pids, logs, addresses, generated config) live here unless --dir says otherwise."""
    return Path(os.environ.get("LIQBOT_DEVNET_DIR", project_root() / ".devnet")).resolve()


def build_cache_dir() -> Path:
    """Compiled bytecode and the deployed-state dump, reused by every later `up`."""
    path = project_root() / ".devnet-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so concurrent test workers never read half a cache file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
