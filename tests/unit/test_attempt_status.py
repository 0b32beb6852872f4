"""The attempt status rules alone: which moves are allowed, that they only go forward, the one reorg edge."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from liqbot.core.errors import InvalidTransition, SkipError
from liqbot.store.status import (
    FORWARD,
    STAGE,
    AttemptMode,
    AttemptStatus,
    check_transition,
    is_final,
    next_statuses,
    predecessors,
)

S = AttemptStatus
SENDING = (AttemptMode.FUNDS, AttemptMode.FLASH)
SEND_ONLY = {S.SUBMITTED, S.INCLUDED, S.REVERTED, S.FAILED}


def _walk(mode: AttemptMode, *path: AttemptStatus) -> None:
    for a, b in pairwise(path):
        check_transition(a, b, mode)


@pytest.mark.parametrize("mode", SENDING)
@pytest.mark.parametrize("end", [S.INCLUDED, S.REVERTED, S.FAILED, S.SKIPPED, S.LOST_RACE])
def test_sending_paths(mode: AttemptMode, end: AttemptStatus) -> None:
    _walk(mode, S.DETECTED, S.SIMULATED, S.SUBMITTED, end)
    assert is_final(end, mode)


@pytest.mark.parametrize("mode", list(AttemptMode))
@pytest.mark.parametrize("start", [S.DETECTED, S.SIMULATED])
@pytest.mark.parametrize("end", [S.SKIPPED, S.LOST_RACE])
def test_skip_and_lost_race_before_the_end(
    mode: AttemptMode, start: AttemptStatus, end: AttemptStatus
) -> None:
    check_transition(start, end, mode)


def test_shadow_ends_in_shadowed_and_never_sends() -> None:
    _walk(AttemptMode.SHADOW, S.DETECTED, S.SIMULATED, S.SHADOWED)
    assert is_final(S.SHADOWED, AttemptMode.SHADOW)
    assert not is_final(S.SIMULATED, AttemptMode.SHADOW)  # simulated is a step, never the end
    for target in SEND_ONLY:
        with pytest.raises(InvalidTransition):
            check_transition(S.SIMULATED, target, AttemptMode.SHADOW)
    for mode in SENDING:
        with pytest.raises(InvalidTransition):
            check_transition(S.SIMULATED, S.SHADOWED, mode)


@pytest.mark.parametrize("mode", SENDING)
def test_reorg_is_the_one_backward_edge_and_only_by_name(mode: AttemptMode) -> None:
    check_transition(S.INCLUDED, S.SUBMITTED, mode, reorg=True)
    with pytest.raises(InvalidTransition, match="cannot go included -> submitted"):
        check_transition(S.INCLUDED, S.SUBMITTED, mode)  # a late "submitted" must not undo an inclusion
    for current, target in [(S.REVERTED, S.SUBMITTED), (S.SUBMITTED, S.SUBMITTED), (S.INCLUDED, S.SIMULATED)]:
        with pytest.raises(InvalidTransition, match="a reorg moves"):
            check_transition(current, target, mode, reorg=True)


def test_shadow_has_no_reorg_edge() -> None:
    with pytest.raises(InvalidTransition):
        check_transition(S.INCLUDED, S.SUBMITTED, AttemptMode.SHADOW, reorg=True)


def test_refusal_names_what_is_allowed() -> None:
    allowed = r"detected -> included \(allowed: lost_race, simulated, skipped\)"
    with pytest.raises(InvalidTransition, match=allowed):
        check_transition(S.DETECTED, S.INCLUDED, AttemptMode.FLASH)
    with pytest.raises(InvalidTransition, match="nothing: it is final"):
        check_transition(S.SKIPPED, S.SIMULATED, AttemptMode.FUNDS)


def test_invalid_transition_is_a_skip() -> None:
    # The engine moves on from a refused move (another process owns the attempt); it does not stop.
    assert issubclass(InvalidTransition, SkipError)


@pytest.mark.parametrize("mode", list(AttemptMode))
def test_table_only_moves_forward(mode: AttemptMode) -> None:
    for current, nexts in FORWARD[mode].items():
        assert nexts, f"{current} is listed with no move"
        for target in nexts:
            assert STAGE[target] > STAGE[current], f"{current} -> {target} goes backward"
            assert target is not S.DETECTED


@pytest.mark.parametrize("mode", list(AttemptMode))
def test_predecessors_mirror_next_statuses(mode: AttemptMode) -> None:
    for target in AttemptStatus:
        for current in AttemptStatus:
            assert (current in predecessors(target, mode)) == (target in next_statuses(current, mode))


MAIN_WAY = (S.SIMULATED, S.SUBMITTED, S.INCLUDED, S.SHADOWED)  # forward without ending early


def _draw_move(data: st.DataObject, current: AttemptStatus, mode: AttemptMode) -> tuple[AttemptStatus, bool]:
    """Mostly legal moves (so walks get deep and reorgs happen), some reorg tries, some anything at all."""
    kind = data.draw(st.sampled_from(["main", "main", "legal", "reorg", "any"]))
    legal = sorted(next_statuses(current, mode))
    if kind == "main" and (way := [s for s in MAIN_WAY if s in legal]):
        return way[0], False
    if kind == "legal" and legal:
        return data.draw(st.sampled_from(legal)), False
    if kind == "reorg":
        return S.SUBMITTED, True
    return data.draw(st.sampled_from(list(AttemptStatus))), data.draw(st.booleans())


@given(mode=st.sampled_from(list(AttemptMode)), steps=st.integers(0, 25), data=st.data())
def test_random_sequences_follow_the_rules(mode: AttemptMode, steps: int, data: st.DataObject) -> None:
    """Throw moves at an attempt: whatever is accepted is an edge of the table or the named reorg, the stage
    never drops except by that reorg, and a shadow attempt never reaches a sending status."""
    current = S.DETECTED
    reorgs = forward = 0
    for _ in range(steps):
        target, reorg = _draw_move(data, current, mode)
        try:
            check_transition(current, target, mode, reorg=reorg)
        except InvalidTransition:
            # refused: then it is neither an edge of the table nor the reorg edge asked for by name
            is_reorg = reorg and mode in SENDING and (current, target) == (S.INCLUDED, S.SUBMITTED)
            assert is_reorg is False
            assert reorg or target not in next_statuses(current, mode)
            continue
        if reorg:
            assert (current, target) == (S.INCLUDED, S.SUBMITTED) and mode in SENDING
            reorgs += 1
        else:
            assert target in next_statuses(current, mode)
            assert STAGE[target] > STAGE[current]
            forward += 1
        current = target
        if mode is AttemptMode.SHADOW:
            assert current not in SEND_ONLY
    event(f"mode={mode} end={current} reorged={reorgs > 0}")  # --hypothesis-show-statistics shows coverage
    # Progress is bounded: three forward steps from detected, plus one re-inclusion per reorg.
    assert forward <= 3 + reorgs
