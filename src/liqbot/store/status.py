"""The life of a liquidation attempt: its statuses and the moves between them. Pure: no database, no clock.

    detected ──> simulated ──> submitted ──> included | reverted | failed       (funds, flash)
        │            │   └───> failed (the node refused the transaction: it never had a hash)
        │            └──────> shadowed                                          (shadow: the end)
        └──────────────┴────────────┴──> skipped | lost_race                    (any mode, before the end)

    included ──> submitted   the one backward move: a reorg dropped the transaction; it is tracked again.

Shadow rows end in `shadowed`, not `simulated`: a funds row stuck in `simulated` (the bot died before sending)
needs a look, a shadow row at its end does not, and the two must not look alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from liqbot.core.errors import InvalidTransition


class AttemptStatus(StrEnum):
    DETECTED = "detected"
    SIMULATED = "simulated"
    SUBMITTED = "submitted"
    INCLUDED = "included"
    REVERTED = "reverted"
    FAILED = "failed"
    SKIPPED = "skipped"
    LOST_RACE = "lost_race"
    SHADOWED = "shadowed"


class AttemptMode(StrEnum):
    SHADOW = "shadow"  # decide and simulate, never send
    FUNDS = "funds"  # repay from our own inventory
    FLASH = "flash"  # repay with a flash loan through the executor contract


class Protocol(StrEnum):
    AAVE_V3 = "aave_v3"
    MORPHO_BLUE = "morpho_blue"
    COMPOUND_V3 = "compound_v3"


class Outcome(StrEnum):
    """What really happened to the position, found later by reconciliation (mostly for shadow rows)."""

    LIQUIDATED_BY_OTHER = "liquidated_by_other"  # someone else liquidated it (outcome_block, outcome_tx)
    STILL_OPEN = "still_open"  # still liquidatable and not liquidated when last checked
    NEVER_LIQUIDATABLE = "never_liquidatable"  # the chain never agreed it was liquidatable: our mistake


S = AttemptStatus
_ENDINGS = frozenset({S.SKIPPED, S.LOST_RACE})

_SENDING: Mapping[AttemptStatus, frozenset[AttemptStatus]] = {
    S.DETECTED: frozenset({S.SIMULATED}) | _ENDINGS,
    S.SIMULATED: frozenset({S.SUBMITTED, S.FAILED}) | _ENDINGS,
    S.SUBMITTED: frozenset({S.INCLUDED, S.REVERTED, S.FAILED}) | _ENDINGS,
}
_SHADOW: Mapping[AttemptStatus, frozenset[AttemptStatus]] = {
    S.DETECTED: frozenset({S.SIMULATED}) | _ENDINGS,
    S.SIMULATED: frozenset({S.SHADOWED}) | _ENDINGS,
}
FORWARD: Mapping[AttemptMode, Mapping[AttemptStatus, frozenset[AttemptStatus]]] = {
    AttemptMode.SHADOW: _SHADOW,
    AttemptMode.FUNDS: _SENDING,
    AttemptMode.FLASH: _SENDING,
}
REORG_FROM, REORG_TO = S.INCLUDED, S.SUBMITTED

# How far along a status is; every forward move goes to a higher stage (a test holds the table to it).
STAGE: Mapping[AttemptStatus, int] = {S.DETECTED: 0, S.SIMULATED: 1, S.SUBMITTED: 2} | {
    s: 3 for s in (S.INCLUDED, S.REVERTED, S.FAILED, S.SKIPPED, S.LOST_RACE, S.SHADOWED)
}


def next_statuses(current: AttemptStatus, mode: AttemptMode) -> frozenset[AttemptStatus]:
    """Where an attempt in `current` may go next (forward moves only)."""
    return FORWARD[mode].get(current, frozenset())


def is_final(status: AttemptStatus, mode: AttemptMode) -> bool:
    """No forward move left. (`included` can still be pulled back by a reorg.)"""
    return not next_statuses(status, mode)


def predecessors(target: AttemptStatus, mode: AttemptMode) -> frozenset[AttemptStatus]:
    """The statuses that may move forward to `target`: the `status IN (...)` of the atomic UPDATE."""
    return frozenset(s for s, nxt in FORWARD[mode].items() if target in nxt)


def check_transition(
    current: AttemptStatus, target: AttemptStatus, mode: AttemptMode, *, reorg: bool = False
) -> None:
    """Raise InvalidTransition unless `current -> target` is allowed for `mode`.

    The reorg edge is allowed only when asked for by name (`reorg=True`), so a late or duplicate
    "submitted" can never drag an included attempt back by accident.
    """
    if reorg:
        if (current, target) == (REORG_FROM, REORG_TO) and mode is not AttemptMode.SHADOW:
            return
        raise InvalidTransition(
            f"a reorg moves a {mode} attempt from {REORG_FROM} to {REORG_TO}, not {current} -> {target}"
        )
    if target not in next_statuses(current, mode):
        allowed = ", ".join(sorted(next_statuses(current, mode))) or "nothing: it is final"
        raise InvalidTransition(f"a {mode} attempt cannot go {current} -> {target} (allowed: {allowed})")
