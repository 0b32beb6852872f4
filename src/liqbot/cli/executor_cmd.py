"""`liqbot executor …`: deploy the executor contract, show its state, withdraw from it.

On the devnet (`--devnet`) everything is sent from anvil's unlocked ADMIN account. Elsewhere transactions are
signed with the key in the environment variable LIQBOT_SIGNER_KEY — never a command-line argument, never
printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils import is_address, to_checksum_address
from rich.console import Console
from rich.table import Table
from web3 import HTTPProvider, Web3

from liqbot.config.models import EnvSignerConfig
from liqbot.config.secrets import redact_url, resolve_signer_key
from liqbot.core.errors import ConfigError
from liqbot.execution.executor_contract import (
    MAX_UINT,
    ExecutorContract,
    KeySender,
    TxSender,
    UnlockedSender,
    deploy_executor,
)
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.paths import default_state_dir

app = typer.Typer(help="The executor contract: deploy, status, withdraw.", no_args_is_help=True)
console = Console()

RpcOpt = Annotated[
    str | None, typer.Option("--rpc", help="HTTP RPC URL (default on --devnet: the devnet's).")
]
DevnetOpt = Annotated[bool, typer.Option("--devnet", help="Use the local devnet and its unlocked ADMIN.")]
DirOpt = Annotated[Path | None, typer.Option("--dir", help="Devnet run files (default .devnet/).")]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Executor address (default on --devnet: addresses.json).")
]


@dataclass
class _Ctx:
    w3: Web3
    devnet: manager.Devnet | None

    def addresses(self) -> dict[str, Any]:
        return self.devnet.addresses() if self.devnet else {}

    def sender(self) -> TxSender:
        if self.devnet:
            from liqbot.harness.devnet.rpc import ADMIN

            return UnlockedSender(ADMIN)
        return KeySender(resolve_signer_key(EnvSignerConfig(source="env")))

    def token(self, name: str) -> str:
        """An address, or on the devnet a symbol such as USDC."""
        tokens = self.addresses().get("tokens", {})
        if name.upper() in tokens:
            return to_checksum_address(tokens[name.upper()]["address"])
        if not is_address(name):
            raise ConfigError(f"--token {name!r} is neither an address nor a devnet token symbol")
        return to_checksum_address(name)

    def executor(self, address: str | None) -> ExecutorContract:
        found = address or self.addresses().get("executor")
        if not found:
            raise ConfigError("give --address (the executor contract)")
        if not is_address(found):
            raise ConfigError(f"--address {found!r} is not an address")
        return ExecutorContract(self.w3, found)


def _ctx(rpc: str | None, devnet: bool, state_dir: Path | None) -> _Ctx:
    dev = manager.load((state_dir or default_state_dir()).resolve()) if devnet else None
    url = rpc or (dev.chain().url if dev else None)
    if not url:
        raise ConfigError("give --rpc URL (or --devnet)")
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise ConfigError(f"cannot reach the RPC at {redact_url(url)}")
    return _Ctx(w3, dev)


@app.command()
def deploy(
    rpc: RpcOpt = None,
    devnet: DevnetOpt = False,
    state_dir: DirOpt = None,
    owner: Annotated[str | None, typer.Option(help="Owner (default: the signer).")] = None,
    treasury: Annotated[str | None, typer.Option(help="Treasury Safe (required off the devnet).")] = None,
    router: Annotated[
        list[str] | None, typer.Option("--router", help="Allowed swap router (repeat).")
    ] = None,
    executor: Annotated[
        list[str] | None, typer.Option("--executor", help="Allowed executor key address (repeat).")
    ] = None,
) -> None:
    """Deploy the executor (on --devnet: from ADMIN; SwapRouter, Safe treasury and LIQUIDATOR allowed)."""
    ctx = _ctx(rpc, devnet, state_dir)
    if ctx.devnet:
        from liqbot.harness.devnet.executor import deploy_executor_on_devnet
        from liqbot.harness.devnet.rpc import DevnetRpc

        url = rpc or ctx.devnet.chain().url
        address = deploy_executor_on_devnet(DevnetRpc(url), ctx.addresses())
    else:
        if not treasury or not router:
            raise ConfigError("off the devnet, give --treasury and at least one --router")
        sender = ctx.sender()
        address = deploy_executor(
            ctx.w3, owner or sender.address, treasury, router, executor or [], sender=sender
        )
    typer.echo(address)


@app.command()
def status(
    rpc: RpcOpt = None,
    devnet: DevnetOpt = False,
    state_dir: DirOpt = None,
    address: AddressOpt = None,
    token: Annotated[
        list[str] | None, typer.Option("--token", help="Token to show (repeat; default on --devnet: all).")
    ] = None,
) -> None:
    """Owner, treasury, paused, allowed executors and routers, and token balances."""
    ctx = _ctx(rpc, devnet, state_dir)
    ex = ctx.executor(address)
    names = token or list(ctx.addresses().get("tokens", {}))
    st = ex.status([ctx.token(t) for t in names])
    table = Table("field", "value", title=f"executor {st.address}")
    table.add_row("owner", st.owner)
    if int(st.pending_owner, 16):
        table.add_row("pending owner", st.pending_owner)
    table.add_row("treasury", st.treasury)
    table.add_row("paused", "[red]yes[/red]" if st.paused else "no")
    table.add_row("profit to treasury by default", "yes" if st.profit_to_treasury_by_default else "no")
    table.add_row("executors", "\n".join(st.executors) or "-")
    table.add_row("routers", "\n".join(st.routers) or "-")
    console.print(table)
    if st.balances:
        held = Table("token", "amount", "raw", "address", title="balances")
        for addr, raw in st.balances.items():
            erc = ex.erc20(addr)
            symbol, decimals = erc.functions.symbol().call(), int(erc.functions.decimals().call())
            held.add_row(symbol, f"{Decimal(raw).scaleb(-decimals).normalize():,f}", str(raw), addr)
        console.print(held)


@app.command()
def withdraw(
    token: Annotated[str, typer.Option("--token", help="Token address (or a devnet symbol).")],
    amount: Annotated[str, typer.Option("--amount", help="Whole tokens, e.g. 12.5, or 'all'.")],
    to: Annotated[str, typer.Option("--to", help="owner or treasury: the only places funds may go.")],
    rpc: RpcOpt = None,
    devnet: DevnetOpt = False,
    state_dir: DirOpt = None,
    address: AddressOpt = None,
) -> None:
    """Withdraw a token to the owner or the treasury (sent by the owner)."""
    if to not in ("owner", "treasury"):
        raise ConfigError(f"--to {to!r}: use owner or treasury")
    ctx = _ctx(rpc, devnet, state_dir)
    ex = ctx.executor(address)
    addr = ctx.token(token)
    decimals = int(ex.erc20(addr).functions.decimals().call())
    raw = MAX_UINT if amount == "all" else _raw_amount(amount, decimals)
    f = ex.contract.functions
    recipient = str(f.owner().call() if to == "owner" else f.treasury().call())
    receipt = ex.withdraw(ctx.sender(), addr, raw, recipient)
    console.print(f"withdrew to {to} {recipient} in tx {receipt['transactionHash'].hex()}")


def _raw_amount(text: str, decimals: int) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"--amount {text!r} is not a number (or 'all')") from None
    raw = value * 10**decimals
    if value <= 0 or raw != raw.to_integral_value():
        raise ConfigError(f"--amount {text}: must be positive with at most {decimals} decimals")
    return int(raw)
