"""Nonce books, the replacement bump, and signer lanes (no chain)."""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqbot.chain.nonces import (
    CANCEL,
    NonceBook,
    NonceConflictError,
    bumped,
    payload_key,
    replacement_fees,
)
from liqbot.chain.signer import SignerLane, SignerLanes
from liqbot.core.errors import ConfigError
from liqbot.harness.devnet.rpc import ANVIL_ACCOUNTS, ANVIL_KEYS

A = payload_key("0x" + "11" * 20, b"\x01")
B = payload_key("0x" + "11" * 20, b"\x02")


def synced(count: int = 7) -> NonceBook:
    book = NonceBook("0xabc")
    book.sync(count)
    return book


def test_take_is_sequential_from_the_pending_count() -> None:
    book = synced(7)
    assert [book.take(A), book.take(B), book.take(A)] == [7, 8, 9]
    assert book.busy == 3 and book.in_flight() == [7, 8, 9]


def test_take_before_sync_refuses() -> None:
    with pytest.raises(NonceConflictError, match="not synced"):
        NonceBook("0xabc").take(A)


def test_sync_never_goes_back_below_what_was_handed_out() -> None:
    book = synced(7)
    book.take(A), book.take(B)
    book.sync(7)  # the node has not seen ours yet: keep 9
    assert book.next == 9
    book.sync(12)  # "nonce too low": someone else used 9..11
    assert book.next == 12


def test_hold_keeps_recovered_nonces_out_of_new_takes() -> None:
    book = synced(7)  # the node's pending count; ours at 7 may not be in its pool (never sent, or lost)
    book.hold(7, A)
    book.hold(9, B)  # held above a gap: nothing at or under it is handed out
    assert book.next == 10 and book.in_flight() == [7, 9]
    assert book.take(A) == 10
    book.check(9, B)
    book.check(9, CANCEL)
    with pytest.raises(NonceConflictError, match="another payload"):
        book.check(7, B)
    book.sync(8)
    assert book.next == 11  # syncing never goes back under a held nonce
    book.done(9)
    assert book.in_flight() == [10]


def test_replacement_and_cancel_only_at_the_same_nonce() -> None:
    book = synced(7)
    n = book.take(A)
    book.check(n, A)  # replacement: same payload
    book.check(n, CANCEL)  # cancel: always allowed for a nonce in flight
    with pytest.raises(NonceConflictError, match="another payload"):
        book.check(n, B)
    with pytest.raises(NonceConflictError, match="not in flight"):
        book.check(n + 1, A)


def test_release_of_the_newest_rolls_back() -> None:
    book = synced(7)
    n = book.take(A)
    assert book.release(n) is False
    assert book.next == 7 and book.busy == 0
    assert book.take(B) == 7  # nothing ever held 7: the node refused it


def test_release_under_later_nonces_leaves_a_gap_bound_to_cancel() -> None:
    book = synced(7)
    low, high = book.take(A), book.take(B)
    assert book.release(low) is True
    assert book.next == 9 and book.busy == 2
    book.check(low, CANCEL)
    with pytest.raises(NonceConflictError):
        book.check(low, A)  # even its old payload: the gap may only be filled with a cancel
    assert book.take(A) == 9  # the gap is not handed to a new payload
    book.done(high)
    assert book.in_flight() == [9]


def test_done_forgets_every_lower_nonce() -> None:
    book = synced(0)
    for _ in range(4):
        book.take(A)
    book.done(2)
    assert book.in_flight() == [3]


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.sampled_from(["take", "release", "done", "sync"]), st.integers(0, 30)), max_size=60)
)
def test_a_nonce_never_carries_two_payloads(ops: list[tuple[str, int]]) -> None:
    """Whatever happens, a nonce handed out while another payload may hold it is never handed out again,
    unless the node refused it outright (release of the newest)."""
    book = synced(5)
    owner: dict[int, int] = {}  # nonce -> op index that took it, while it may be held
    for i, (op, arg) in enumerate(ops):
        if op == "take":
            n = book.take(payload_key("0x" + "22" * 20, i.to_bytes(2, "big")))
            assert n not in owner, f"nonce {n} handed out twice"
            owner[n] = i
        elif op == "release" and owner:
            n = sorted(owner)[arg % len(owner)]
            if not book.release(n):
                owner.pop(n)  # rolled back: it was the newest and nothing holds it
        elif op == "done" and owner:
            n = sorted(owner)[arg % len(owner)]
            book.done(n)
            for m in [m for m in owner if m <= n]:
                owner.pop(m)
            book.sync(n + 1)  # the node agrees: it is mined
        elif op == "sync":
            before = book.next
            book.sync(arg)
            assert book.next is not None and before is not None and book.next >= before


def test_bump_rounds_up_on_both_fees() -> None:
    assert bumped(8) == 9  # 8 × 1.125 = 9 exactly
    assert bumped(10) == 12  # 11.25 → 12
    assert bumped(1_000_000_001) == 1_125_000_002  # 1_125_000_001.125 → up
    assert bumped(0) == 1 and bumped(1) == 2  # a zero or tiny tip still moves
    assert bumped(100, Decimal("0.10")) == 110
    with pytest.raises(ValueError, match="bump"):
        bumped(100, Decimal(0))


@given(st.integers(0, 10**15), st.integers(0, 10**15), st.integers(0, 10**12))
def test_replacement_beats_the_node_minimum(tip: int, max_fee: int, base: int) -> None:
    new_tip, new_max = replacement_fees(tip, max_fee, base)
    # geth's rule (+10% on both) and ours (+12.5%), in integers: 8 × new ≥ 9 × old
    assert 8 * new_tip >= 9 * tip and 8 * new_max >= 9 * max_fee
    assert new_tip > tip and new_max > max_fee
    assert new_max >= 2 * base + new_tip


# ---- signer lanes -----------------------------------------------------------------------------------------


def test_lanes_never_show_the_key() -> None:
    lanes = SignerLanes.from_keys(ANVIL_KEYS[1:3])
    lane = next(iter(lanes))
    key_hex = ANVIL_KEYS[1].removeprefix("0x")
    for text in (repr(lane), str(lane), repr(lanes), f"{lane}", str(lanes.addresses)):
        assert key_hex not in text.lower()
    assert lane.address == ANVIL_ACCOUNTS[1]
    assert not hasattr(lane, "__dict__")
    with pytest.raises(TypeError, match="private key"):
        pickle.dumps(lane)
    with pytest.raises(TypeError, match="private key"):
        copy.deepcopy(lane)


def test_pick_least_busy_then_round_robin() -> None:
    lanes = SignerLanes.from_keys(ANVIL_KEYS[:3])
    addrs = lanes.addresses
    busy = dict.fromkeys(addrs, 0)
    picks = [lanes.pick(busy.__getitem__).address for _ in range(6)]
    assert picks == [addrs[0], addrs[1], addrs[2]] * 2  # all idle: take turns
    busy[addrs[0]], busy[addrs[1]] = 2, 1  # lane 0 is stuck with two in flight
    assert {lanes.pick(busy.__getitem__).address for _ in range(5)} == {addrs[2]}


def test_duplicate_or_missing_keys_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        SignerLanes.from_keys([ANVIL_KEYS[0], ANVIL_KEYS[0].upper().replace("0X", "0x")])
    with pytest.raises(ConfigError, match="at least one"):
        SignerLanes([])
    with pytest.raises(ConfigError, match="not a valid"):
        SignerLane("0x" + "00" * 32)


def test_lanes_from_config_env() -> None:
    from liqbot.config import EnvSignerConfig

    cfgs = [EnvSignerConfig(source="env", env_var="LANE_A"), EnvSignerConfig(source="env", env_var="LANE_B")]
    lanes = SignerLanes.from_config(cfgs, env={"LANE_A": ANVIL_KEYS[2], "LANE_B": ANVIL_KEYS[3]})
    assert lanes.addresses == ANVIL_ACCOUNTS[2:4]
