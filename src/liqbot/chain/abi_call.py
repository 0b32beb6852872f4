"""Fast calldata encoding and return decoding for a contract function, straight from its ABI.

web3's Contract objects are convenient but slow on hot paths (a snapshot encodes 10^5..10^6 calls)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector

from liqbot.contracts import abi


def _type(item: dict[str, Any]) -> str:
    t = str(item["type"])
    if t.startswith("tuple"):
        inner = ",".join(_type(c) for c in item["components"])
        return f"({inner}){t[5:]}"
    return t


@dataclass(frozen=True)
class Fn:
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def encode(self, *args: Any) -> bytes:
        return self.selector + encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> tuple[Any, ...]:
        return tuple(decode(list(self.outputs), data))

    def decode_one(self, data: bytes) -> Any:
        return self.decode(data)[0]


@cache
def fn(contract: str, name: str, n_inputs: int | None = None) -> Fn:
    """The function `name` of the shipped ABI `contract` (pick the overload by input count if needed)."""
    for item in abi(contract):
        if item.get("type") != "function" or item.get("name") != name:
            continue
        if n_inputs is not None and len(item["inputs"]) != n_inputs:
            continue
        return Fn(
            bytes(function_abi_to_4byte_selector(item)),  # type: ignore[arg-type]
            tuple(_type(i) for i in item["inputs"]),
            tuple(_type(o) for o in item["outputs"]),
        )
    raise KeyError(f"{contract} has no function {name}")
