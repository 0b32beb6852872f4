"""Automatic kill-switch trips: the rules of `kill_switch.auto_trip`, evaluated over a chain's sends after
each live attempt ends. Pure: the caller reads the sends decided since the chain's switch was last released
(risk/history.py) and engages the switch when a rule says so.

Only sends that ended on chain are judged: `included` is a success, `reverted` a failure. Lost races (another
liquidator was first), skips and node refusals are neither."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from eth_utils import keccak

from liqbot.config.models import AutoTripConfig
from liqbot.risk.records import SendRow, spent_usd
from liqbot.store.status import AttemptStatus

S = AttemptStatus


class Rule(StrEnum):
    FLASH_REPAY = "flash_repay_failure"
    CONSECUTIVE_REVERTS = "consecutive_reverts"
    REVERT_RATE = "revert_rate"
    REALIZED_LOSS = "realized_loss"
    GAS_SPENT = "gas_spent"


@dataclass(frozen=True)
class Trip:
    rule: Rule
    reason: str  # says the numbers; recorded with the switch

    @property
    def actor(self) -> str:
        return f"auto:{self.rule.value}"


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


# How a flash loan that could not be paid back shows in a reverted send's reason. The executor never lets
# the lender's pull fail silently: it reverts first with one of its backstops (contracts/executor/
# LiqExecutor.sol), and the sender records a custom error by its selector ("reverted on chain: 0x1234abcd",
# chain/errors.py).
FLASH_REPAY_SELECTORS: dict[str, str] = {
    _selector("CallbackNotCalled()"): "CallbackNotCalled(): the lender never called back",
    _selector(
        "BalanceBelowStart(uint256,uint256)"
    ): "BalanceBelowStart(): the lender took more than the loan",
}
# Unprofitable(int256 profit, uint256 minProfit) with profit < 0: the swap did not cover loan + premium.
UNPROFITABLE = _selector("Unprofitable(int256,uint256)")


def flash_repay_failure(row: SendRow) -> str | None:
    """What made a reverted flash send a repayment failure, or None."""
    if row.status is not S.REVERTED or row.mode != "flash" or not row.reason:
        return None
    text = row.reason.lower()
    for selector, what in FLASH_REPAY_SELECTORS.items():
        if selector in text:
            return what
    return None


def unprofitable_shortfall(revert_data: bytes) -> int | None:
    """The negative profit of an `Unprofitable` revert (debt-asset units short of loan + premium), or None
    when the data is another error or the profit was not negative (a minProfit miss, not a repay failure)."""
    if "0x" + revert_data[:4].hex() != UNPROFITABLE or len(revert_data) < 68:
        return None
    profit = int.from_bytes(revert_data[4:36], "big", signed=True)
    return -profit if profit < 0 else None


def evaluate(
    policy: AutoTripConfig,
    rows: Sequence[SendRow],
    now: datetime,
    native_price: int | None,
    repay_failure: str | None = None,
) -> Trip | None:
    """The first rule that trips, or None. `rows`: the chain's sends decided since its switch was last
    released, any order. `native_price`: the gas token's USD price (8 decimals); without it the loss and
    gas rules wait. `repay_failure`: what the caller found out about the send that just ended (e.g. a
    decoded Unprofitable shortfall), as a flash repayment failure."""
    if not policy.enabled:
        return None
    rows = sorted(rows, key=lambda r: r.id)
    judged = [r for r in rows if r.status in (S.INCLUDED, S.REVERTED)]
    if policy.trip_on_flash_repay_failure:
        if repay_failure is not None:
            return Trip(Rule.FLASH_REPAY, f"flash loan not repaid: {repay_failure}")
        for r in judged:
            what = flash_repay_failure(r)
            if what is not None:
                return Trip(Rule.FLASH_REPAY, f"flash loan not repaid in attempt {r.id}: {what}")
    streak = _trailing_reverts(judged)
    if len(streak) >= policy.max_consecutive_reverts:
        ids = ", ".join(str(r.id) for r in streak)
        return Trip(
            Rule.CONSECUTIVE_REVERTS,
            f"{len(streak)} reverts in a row (max {policy.max_consecutive_reverts}): attempts {ids}; "
            f"last: {streak[-1].reason or 'no reason'}"[:400],
        )
    window = [r for r in judged if r.created_at >= now - timedelta(seconds=policy.window_s)]
    bad = sum(1 for r in window if r.status is S.REVERTED)
    if len(window) >= policy.min_sample and Decimal(bad) / len(window) > policy.max_revert_rate:
        return Trip(
            Rule.REVERT_RATE,
            f"{bad} of {len(window)} sends reverted in the last {policy.window_s} s "
            f"({_pct(Decimal(bad) / len(window))} > {_pct(policy.max_revert_rate)}; lost races left out)",
        )
    if native_price is None:
        return None
    recent = [r for r in rows if r.created_at >= now - timedelta(seconds=policy.loss_window_s)]
    gas = sum((spent_usd(r, native_price) for r in recent), Decimal(0))
    realized = sum(
        (r.realized_profit_usd or Decimal(0) for r in recent if r.status is S.INCLUDED), Decimal(0)
    )
    if realized - gas < -policy.max_realized_loss_usd:
        return Trip(
            Rule.REALIZED_LOSS,
            f"realized ${_c(realized)} - gas ${_c(gas)} = ${_c(realized - gas)} in the last "
            f"{policy.loss_window_s} s (loss cap ${policy.max_realized_loss_usd})",
        )
    if gas > policy.max_gas_spent_usd:
        return Trip(
            Rule.GAS_SPENT,
            f"gas spent ${_c(gas)} in the last {policy.loss_window_s} s > ${policy.max_gas_spent_usd}",
        )
    return None


def _trailing_reverts(judged: Sequence[SendRow]) -> list[SendRow]:
    out: list[SendRow] = []
    for r in reversed(judged):
        if r.status is not S.REVERTED:
            break
        out.append(r)
    return out[::-1]


def _pct(d: Decimal) -> str:
    return f"{(d * 100).quantize(Decimal('0.1'))}%"


def _c(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"))
