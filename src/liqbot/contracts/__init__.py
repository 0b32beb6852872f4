"""Contract ABIs the bot ships (generated from the pinned npm packages by scripts/extract_abis.py)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from eth_utils import event_abi_to_log_topic


@cache
def abi(name: str) -> list[dict[str, Any]]:
    text = resources.files("liqbot.contracts").joinpath("abi", f"{name}.json").read_text()
    data: list[dict[str, Any]] = json.loads(text)
    return data


def event_abi(contract: str, event: str) -> dict[str, Any]:
    for item in abi(contract):
        if item.get("type") == "event" and item.get("name") == event:
            return item
    raise KeyError(f"{contract} has no event {event}")


def topic(contract: str, event: str) -> str:
    """The event's topic0 as 0x-hex."""
    return "0x" + bytes(event_abi_to_log_topic(event_abi(contract, event))).hex()  # type: ignore[arg-type]
