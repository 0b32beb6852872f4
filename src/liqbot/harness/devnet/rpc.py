"""A thin client for driving anvil: deploy, transact with unlocked accounts, batch, mine, snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import decode
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import Web3Exception
from web3.types import RPCEndpoint

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet import artifacts

# anvil's default accounts (public test mnemonic). Index 0 deploys and administers everything.
ANVIL_ACCOUNTS = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
    "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
    "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
)
# Their private keys are public (anvil's test mnemonic); the Safe owners' keys sign in tests and the demo.
ANVIL_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)
ADMIN, SAFE_OWNERS, WHALE, LIQUIDATOR = (
    ANVIL_ACCOUNTS[0],
    ANVIL_ACCOUNTS[1:4],
    ANVIL_ACCOUNTS[4],
    ANVIL_ACCOUNTS[5],
)

_ERROR_SELECTOR = bytes.fromhex("08c379a0")


def revert_reason(data: str | bytes | None) -> str:
    """Decode Error(string) revert data; anything else comes back as hex."""
    if data is None:
        return "no revert data"
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
    if raw[:4] == _ERROR_SELECTOR:
        (msg,) = decode(["string"], raw[4:])
        return str(msg)
    return "0x" + raw.hex() if raw else "empty revert"


class DevnetRpc:
    """One anvil endpoint. Every write uses anvil's unlocked (or impersonated) accounts."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))

    # --- raw JSON-RPC -------------------------------------------------------------------------------
    def call(self, method: str, *params: Any) -> Any:
        resp = self.w3.provider.make_request(RPCEndpoint(method), list(params))
        if "error" in resp:
            raise DevnetError(f"{method} failed: {resp['error']}")
        return resp.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Send many JSON-RPC calls in one HTTP request; raise on the first error."""
        if not calls:
            return []
        responses = self.w3.provider.make_batch_request([(RPCEndpoint(m), p) for m, p in calls])  # type: ignore[attr-defined]
        if isinstance(responses, dict):
            raise DevnetError(f"batch failed: {responses.get('error')}")
        by_id = sorted(responses, key=lambda r: int(r["id"]))
        out = []
        for (method, _), r in zip(calls, by_id, strict=True):
            if "error" in r:
                raise DevnetError(f"{method} failed: {r['error']}")
            out.append(r.get("result"))
        return out

    def mine(self, blocks: int = 1) -> None:
        self.call("anvil_mine", hex(blocks))

    def snapshot(self) -> str:
        return str(self.call("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if not self.call("evm_revert", snapshot_id):
            raise DevnetError(f"evm_revert({snapshot_id}) failed")

    # --- contracts ----------------------------------------------------------------------------------
    def contract(self, name_or_abi: str | list[dict[str, Any]], address: str) -> Contract:
        abi = artifacts.abi(name_or_abi) if isinstance(name_or_abi, str) else name_or_abi
        return self.w3.eth.contract(address=to_checksum_address(address), abi=abi)

    def deploy(
        self,
        artifact: artifacts.Artifact,
        *args: Any,
        sender: str = ADMIN,
        libraries: dict[str, str] | None = None,
    ) -> str:
        bytecode = artifacts.linked_bytecode(artifact, libraries or {})
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=bytecode)
        tx_hash = factory.constructor(*args).transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1 or not receipt.get("contractAddress"):
            raise DevnetError(f"deploying {artifact.get('contractName', 'contract')} reverted")
        return str(receipt["contractAddress"])

    def transact(self, fn: ContractFunction, sender: str = ADMIN, gas: int | None = None) -> Any:
        """Send one call, wait for it, and raise with the decoded reason if it reverts."""
        params: dict[str, Any] = {"from": to_checksum_address(sender)}
        if gas is not None:
            params["gas"] = gas
        try:
            tx_hash = fn.transact(params)  # type: ignore[arg-type]
        except (Web3Exception, ValueError) as exc:  # a revert found while estimating gas
            raise DevnetError(f"{fn.fn_name} from {sender} would revert: {exc}") from exc
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1:
            raise DevnetError(f"{fn.fn_name} from {sender} reverted (tx {tx_hash.hex()})")
        return receipt
