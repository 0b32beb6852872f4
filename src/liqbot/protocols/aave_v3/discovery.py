"""Which addresses an Aave V3 log touches: the borrower discovery rule. Pure."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from liqbot.contracts import topic

# (topic0, indexes into topics[] that hold a user address). Pool events name the position's owner;
# token events catch holders that only ever received aTokens or debt by transfer/delegation.
_USER_TOPICS: dict[str, tuple[int, ...]] = {
    topic("Pool", "Supply"): (2,),  # onBehalfOf
    topic("Pool", "Borrow"): (2,),  # onBehalfOf
    topic("Pool", "Repay"): (2,),  # user
    topic("Pool", "Withdraw"): (2,),  # user
    topic("Pool", "LiquidationCall"): (3,),  # user
    topic("Pool", "ReserveUsedAsCollateralEnabled"): (2,),
    topic("Pool", "ReserveUsedAsCollateralDisabled"): (2,),
    topic("Pool", "UserEModeSet"): (1,),
    topic("AToken", "Mint"): (2,),
    topic("AToken", "Burn"): (1,),
    topic("AToken", "BalanceTransfer"): (1, 2),
}
_ZERO = "0x" + "0" * 40


def users_in(log: dict[str, Any]) -> list[str]:
    topics = log.get("topics") or []
    idx = _USER_TOPICS.get(str(topics[0]).lower()) if topics else None
    if not idx:
        return []
    out: list[str] = []
    for i in idx:
        if i < len(topics):
            addr = "0x" + str(topics[i])[-40:]
            if addr != _ZERO:
                out.append(to_checksum_address(addr))
    return out
