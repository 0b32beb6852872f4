"""The float screen against an exact (Fraction) per-position reference: health, full and per-asset screens,
removal, categories, incremental factor updates and their drift, and bulk loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqbot.strategy.screener import Screener

REL = 1e-9  # the agreement the module promises, with room: its bound is ~1e-14 plus drift ≤ ~1e-10 here
INF = float("inf")


@dataclass
class Ref:
    """Straightforward model: dicts of balances per position, HF summed exactly with Fractions."""

    n_assets: int
    n_categories: int
    cf: list[list[float]]
    df: list[float]
    coll: list[dict[int, float]] = field(default_factory=list)
    debt: list[dict[int, float]] = field(default_factory=list)
    cat: list[int] = field(default_factory=list)

    def add(self) -> None:
        self.coll.append({})
        self.debt.append({})
        self.cat.append(0)

    def hf(self, n: int) -> Fraction | None:
        """Exact HF, None for +inf (no debt value)."""
        num = sum(
            (Fraction(x) * Fraction(self.cf[a][self.cat[n]]) for a, x in self.coll[n].items()), Fraction(0)
        )
        den = sum((Fraction(x) * Fraction(self.df[a]) for a, x in self.debt[n].items()), Fraction(0))
        return None if den == 0 else num / den

    def holders(self, asset: int) -> set[int]:
        return {n for n in range(len(self.cat)) if asset in self.coll[n] or asset in self.debt[n]}


def put(d: dict[int, float], asset: int, amount: float) -> None:
    if amount == 0.0:
        d.pop(asset, None)
    else:
        d[asset] = amount


def check(s: Screener, ref: Ref, thresholds: list[float]) -> None:
    n_pos = len(ref.cat)
    assert len(s) == n_pos
    exact = [ref.hf(n) for n in range(n_pos)]
    maintained = s.healths()
    for n, hf in enumerate(exact):
        for got in (s.health(n), float(maintained[n])):
            if hf is None:
                assert got == INF
            else:
                assert abs(Fraction(got) - hf) <= REL * abs(hf), (n, got, float(hf))
    for t in thresholds:
        screened = s.screen(t)
        assert np.all(np.diff(screened) > 0)
        got = set(screened.tolist())
        for n, hf in enumerate(exact):
            if hf is None:
                assert n not in got  # no debt: never a candidate
            elif abs(hf - Fraction(t)) > REL * Fraction(t):  # outside the float gray zone: must agree
                assert (n in got) == (hf < Fraction(t)), (n, float(hf), t)
        for a in range(ref.n_assets):
            held = s.holders(a)
            assert set(held.tolist()) == ref.holders(a)
            # Same maintained sums, so the per-asset screen must be exactly the full screen cut to holders.
            np.testing.assert_array_equal(s.screen_holders(a, t), np.intersect1d(screened, held))


amounts = st.one_of(st.just(0.0), st.floats(1e-3, 1e6))
factors = st.floats(
    0.01, 100.0
)  # positive: a zero debt factor would leave a sum of cancelled terms (see below)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Ref, list[tuple[object, ...]], int]:
    n_assets = draw(st.integers(1, 7))
    n_cat = draw(st.integers(1, 3))
    cf = [[draw(factors) for _ in range(n_cat)] for _ in range(n_assets)]
    df = [draw(factors) for _ in range(n_assets)]
    n_pos = draw(st.integers(1, 10))
    asset, pos, cat = st.integers(0, n_assets - 1), st.integers(0, n_pos - 1), st.integers(0, n_cat - 1)
    balances = st.one_of(
        st.tuples(st.just("coll"), pos, asset, amounts),
        st.tuples(st.just("debt"), pos, asset, amounts),
        st.tuples(st.just("cat"), pos, cat),
    )
    op = st.one_of(
        balances,
        st.tuples(st.just("cf"), asset, cat, factors),
        st.tuples(st.just("cf"), asset, cat, factors),  # listed twice: the incremental path matters most
        st.tuples(st.just("df"), asset, factors),
        st.tuples(
            st.just("asset"), asset, st.lists(factors, min_size=n_cat, max_size=n_cat), st.none() | factors
        ),
        st.tuples(st.just("cfs"), st.lists(factors, min_size=n_assets * n_cat, max_size=n_assets * n_cat)),
        st.tuples(st.just("dfs"), st.lists(factors, min_size=n_assets, max_size=n_assets)),
        st.tuples(st.just("recompute")),
    )
    # Start from some holdings so that factor changes have holders to update.
    ops = draw(st.lists(balances, min_size=2 * n_pos, max_size=4 * n_pos)) + draw(
        st.lists(op, min_size=5, max_size=40)
    )
    ref = Ref(n_assets, n_cat, cf, df)
    for _ in range(n_pos):
        ref.add()
    return ref, ops, draw(st.sampled_from([1, 3, 1000]))


def apply(s: Screener, ref: Ref, op: tuple[object, ...]) -> None:
    kind, *args = op
    if kind == "coll" or kind == "debt":
        n, a, x = args
        assert isinstance(n, int) and isinstance(a, int) and isinstance(x, float)
        (s.set_collateral if kind == "coll" else s.set_debt)(n, a, x)
        put((ref.coll if kind == "coll" else ref.debt)[n], a, x)
    elif kind == "cat":
        n, k = args
        assert isinstance(n, int) and isinstance(k, int)
        s.set_category(n, k)
        ref.cat[n] = k
    elif kind == "cf":
        a, k, f = args
        assert isinstance(a, int) and isinstance(k, int) and isinstance(f, float)
        s.set_collateral_factor(a, k, f)
        ref.cf[a][k] = f
    elif kind == "df":
        a, f = args
        assert isinstance(a, int) and isinstance(f, float)
        s.set_debt_factor(a, f)
        ref.df[a] = f
    elif kind == "asset":
        a, row, f = args
        assert isinstance(a, int) and isinstance(row, list)
        s.set_asset_factors(a, np.array(row), f if isinstance(f, float) else None)
        ref.cf[a] = list(row)
        if isinstance(f, float):
            ref.df[a] = f
    elif kind == "cfs":
        (flat,) = args
        assert isinstance(flat, list)
        s.set_collateral_factors(np.array(flat).reshape(ref.n_assets, ref.n_categories))
        ref.cf = [flat[a * ref.n_categories : (a + 1) * ref.n_categories] for a in range(ref.n_assets)]
    elif kind == "dfs":
        (flat,) = args
        assert isinstance(flat, list)
        s.set_debt_factors(np.array(flat))
        ref.df = list(flat)
    else:
        s.recompute()


def build(ref: Ref, recompute_every: int) -> Screener:
    s = Screener(ref.n_assets, ref.n_categories, capacity=2, recompute_every=recompute_every)
    s.set_collateral_factors(np.array(ref.cf))
    s.set_debt_factors(np.array(ref.df))
    for n in range(len(ref.cat)):
        assert s.add_position(("user", n)) == n
    return s


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.floats(0.1, 10.0))
def test_random_operations_match_exact_reference(
    scenario: tuple[Ref, list[tuple[object, ...]], int], t: float
) -> None:
    ref, ops, every = scenario
    s = build(ref, every)
    for op in ops:
        apply(s, ref, op)
        check(s, ref, [1.0, 1.0 + 1e-6, t])


def bulk_arrays(book: list[dict[int, float]], lo: int, hi: int) -> list[np.ndarray]:
    """(asset, position relative to lo, amount) of positions lo..hi-1, in an order unlike insertion's."""
    rows = [(n - lo, a, x) for n in range(lo, hi) for a, x in book[n].items()][::-1]
    return [np.array([r[i] for r in rows], dtype=float if i == 2 else np.int64) for i in (1, 0, 2)]


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.data())
def test_bulk_load_equals_one_by_one(
    scenario: tuple[Ref, list[tuple[object, ...]], int], data: st.DataObject
) -> None:
    ref, ops, _ = scenario
    one = build(ref, 1000)
    for op in ops:  # only balance and category changes: they define the positions
        if op[0] in ("coll", "debt", "cat"):
            apply(one, ref, op)
    n_pos = len(ref.cat)
    # Positions [0, k1) one by one, then two bulk chunks, so a chunk lands on top of existing holders.
    k1 = data.draw(st.integers(0, n_pos))
    k2 = data.draw(st.integers(k1, n_pos))
    bulk = Screener(ref.n_assets, ref.n_categories, capacity=1)
    bulk.set_collateral_factors(np.array(ref.cf))
    bulk.set_debt_factors(np.array(ref.df))
    for n in range(k1):
        bulk.add_position(("user", n))
        bulk.set_category(n, ref.cat[n])
        for a, x in ref.coll[n].items():
            bulk.set_collateral(n, a, x)
        for a, x in ref.debt[n].items():
            bulk.set_debt(n, a, x)
    for lo, hi in ((k1, k2), (k2, n_pos)):
        keys = [("user", n) for n in range(lo, hi)]
        idx = bulk.bulk_load(
            keys, np.array(ref.cat[lo:hi]), *bulk_arrays(ref.coll, lo, hi), *bulk_arrays(ref.debt, lo, hi)
        )
        np.testing.assert_array_equal(idx, np.arange(lo, hi))
    np.testing.assert_allclose(bulk.healths(), one.healths(), rtol=1e-12)
    check(bulk, ref, [1.0])
    # The loaded slot maps must carry on under edits: replace or remove every entry in turn.
    for n in range(n_pos):
        for a in list(ref.coll[n]):
            for s in (bulk, one):
                s.set_collateral(n, a, 0.0 if a % 2 else 7.5)
            put(ref.coll[n], a, 0.0 if a % 2 else 7.5)
        for a in list(ref.debt[n])[:1]:
            for s in (bulk, one):
                s.set_debt(n, a, 0.0)
            put(ref.debt[n], a, 0.0)
        check(bulk, ref, [1.0])
    np.testing.assert_allclose(bulk.healths(), one.healths(), rtol=1e-12)


def test_drift_never_makes_a_debt_free_position_a_candidate() -> None:
    # Collateral factors going to zero one by one, incrementally, can leave num a hair below zero.
    rng = np.random.default_rng(3)
    for _ in range(1000):
        s = Screener(3, recompute_every=10**9)
        s.set_collateral_factors(rng.uniform(0.1, 10.0, (3, 1)))
        n = s.add_position("x")
        for a in range(3):
            s.set_collateral(n, a, float(rng.uniform(0.1, 10.0)))
        for a in range(3):
            s.set_collateral_factor(a, 0, 0.0)
        if s._num[n] < 0.0:
            break
    else:
        pytest.fail("no negative residual found: the case below would test nothing")
    assert s.screen(1e9).size == 0
    assert s.screen_holders(0, 1e9).size == 0
    assert s.healths()[n] == INF


def test_add_is_idempotent_and_keys_round_trip() -> None:
    s = Screener(3)
    assert s.add_position("0xabc") == 0
    assert s.add_position("0xdef") == 1
    assert s.add_position("0xabc") == 0
    assert len(s) == 2
    assert s.index_of("0xdef") == 1
    assert s.index_of("0x000") is None
    assert s.key_of(1) == "0xdef"
    with pytest.raises(IndexError):
        s.key_of(2)
    with pytest.raises(IndexError):
        s.set_collateral(-1, 0, 1.0)


def test_removal_no_debt_and_zero_factor() -> None:
    s = Screener(3)
    s.set_collateral_factors(np.array([[1.0], [2.0], [3.0]]))
    s.set_debt_factors(np.array([1.0, 1.0, 1.0]))
    n = s.add_position("a")
    s.set_collateral(n, 0, 1.0)
    assert s.health(n) == INF
    assert s.screen(1e9).size == 0  # no debt: never a candidate, whatever the threshold
    s.set_debt(n, 1, 2.0)
    assert s.health(n) == 0.5
    np.testing.assert_array_equal(s.screen(), [n])
    s.set_debt(n, 1, 0.0)
    assert s.health(n) == INF
    assert s.holders(1).size == 0
    s.set_debt(n, 2, 0.5)
    s.set_collateral_factor(0, 0, 0.0)  # a frozen collateral: HF 0
    assert s.healths()[0] == 0.0
    np.testing.assert_array_equal(s.screen_holders(0), [n])
    s.set_collateral(n, 0, 0.0)
    s.set_debt(n, 2, 0.0)
    assert s.holders(0).size == 0
    assert s.screen(1e9).size == 0


def test_wide_position_and_swap_remove() -> None:
    s = Screener(10, capacity=1)
    s.set_collateral_factors(np.ones((10, 1)))
    s.set_debt_factors(np.ones(10))
    others = [s.add_position(i) for i in range(5)]
    wide = s.add_position("wide")
    for a in range(10):
        for o in others:
            s.set_collateral(o, a, 1.0 + o)
        s.set_collateral(wide, a, 1.0)  # more assets than the initial row width
        s.set_debt(wide, a, 2.0)
    assert s.health(wide) == 0.5
    for a in range(0, 10, 2):
        s.set_collateral(others[0], a, 0.0)  # holes in the middle of each asset's arrays
        s.set_collateral(wide, a, 0.0)
    assert s.health(wide) == 0.25
    assert s.healths()[wide] == 0.25
    s.set_collateral_factor(1, 0, 3.0)
    assert s.health(wide) == pytest.approx(7 / 20, rel=1e-15)
    assert s.holders(0).tolist() == [*others[1:], wide]


def test_many_assets_beyond_16_bit_ids() -> None:
    # Morpho maps each market to a few screener assets, so asset ids can outgrow int16.
    n_assets = 40_000
    s = Screener(n_assets)
    s.set_collateral_factors(np.full((n_assets, 1), 2.0))
    s.set_debt_factors(np.ones(n_assets))
    hi = n_assets - 1
    s.bulk_load(
        ["a", "b"],
        0,
        np.array([hi, 5]),
        np.array([0, 1]),
        np.array([1.0, 1.0]),
        np.array([hi - 1, hi]),
        np.array([0, 1]),
        np.array([3.0, 1.0]),
    )
    np.testing.assert_array_equal(s.screen(), [0])
    np.testing.assert_array_equal(s.holders(hi), [0, 1])
    s.set_collateral_factor(hi, 0, 4.0)
    assert s.healths().tolist() == [4 / 3, 2.0]
    s.set_debt(1, hi, 0.0)
    assert s.holders(hi).tolist() == [0]


def test_categories_update_only_their_holders() -> None:
    s = Screener(2, n_categories=2)
    s.set_collateral_factors(np.array([[1.0, 2.0], [1.0, 1.0]]))
    s.set_debt_factors(np.array([1.0, 1.0]))
    plain, emode = s.add_position("p"), s.add_position("e")
    s.set_category(emode, 1)
    for n in (plain, emode):
        s.set_collateral(n, 0, 1.0)
        s.set_debt(n, 1, 1.5)
    np.testing.assert_array_equal(s.screen(), [plain])
    s.set_collateral_factor(0, 1, 1.0)  # the eMode factor falls; the plain position is untouched
    np.testing.assert_array_equal(s.screen_holders(0), [plain, emode])
    assert s.health(plain) == pytest.approx(2 / 3)
    s.set_category(emode, 0)
    assert s.health(emode) == pytest.approx(2 / 3)


def test_drift_of_many_incremental_updates_and_auto_recompute() -> None:
    rng = np.random.default_rng(7)
    n_assets, n_pos = 8, 3000
    s = Screener(n_assets, recompute_every=10**9)
    cf0, df0 = rng.uniform(0.5, 2.0, (n_assets, 1)), rng.uniform(0.5, 2.0, n_assets)
    s.set_collateral_factors(cf0)
    s.set_debt_factors(df0)
    s.bulk_load(
        list(range(n_pos)),
        0,
        rng.integers(0, n_assets, n_pos),
        np.arange(n_pos),
        rng.lognormal(10, 3, n_pos),
        rng.integers(0, n_assets, n_pos),
        np.arange(n_pos),
        rng.lognormal(10, 3, n_pos),
    )
    for _ in range(5000):  # a random walk of prices, applied incrementally only
        a = int(rng.integers(0, n_assets))
        s.set_collateral_factor(a, 0, float(cf0[a, 0] * rng.uniform(0.2, 5.0)))
        s.set_debt_factor(a, float(df0[a] * rng.uniform(0.2, 5.0)))
    drifted = s.healths()
    s.recompute()
    fresh = s.healths()
    np.testing.assert_allclose(drifted, fresh, rtol=1e-10)
    assert not np.array_equal(drifted, fresh)  # there was drift to remove (else the test proves nothing)
    # With recompute_every=R the R-th incremental update rebuilds: bit-equal to an explicit recompute.
    s.recompute_every = 4
    for k in range(4):
        s.set_collateral_factor(k, 0, 1.0 + k)
    auto = s.healths()
    s.recompute()
    np.testing.assert_array_equal(auto, s.healths())


def test_bulk_load_rejects_bad_input_and_changes_nothing() -> None:
    s = Screener(2)
    s.add_position("known")
    e = np.array([], np.int64)
    ok = (np.array([0]), np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="twice"):
        s.bulk_load(["x"], 0, np.array([1, 1]), np.array([0, 0]), np.array([1.0, 2.0]), e, e, e)
    with pytest.raises(ValueError, match="not yet known"):
        s.bulk_load(["known"], 0, *ok, e, e, e)
    with pytest.raises(ValueError, match="not yet known"):
        s.bulk_load(["y", "y"], 0, *ok, e, e, e)
    with pytest.raises(ValueError, match="asset"):
        s.bulk_load(["x"], 0, np.array([2]), np.array([0]), np.array([1.0]), e, e, e)
    with pytest.raises(ValueError, match="position index"):
        s.bulk_load(["x"], 0, np.array([0]), np.array([1]), np.array([1.0]), e, e, e)
    with pytest.raises(ValueError, match="amounts"):
        s.bulk_load(["x"], 0, *ok, np.array([0]), np.array([0]), np.array([-1.0]))
    with pytest.raises(ValueError, match="category"):
        s.bulk_load(["x"], 3, *ok, e, e, e)
    assert len(s) == 1
    assert s.index_of("x") is None
    assert s.holders(0).size == 0


def test_bad_scalars_are_rejected() -> None:
    s = Screener(2, n_categories=2)
    n = s.add_position(1)
    for bad in (-1.0, float("nan"), INF):
        with pytest.raises(ValueError, match="amount"):
            s.set_collateral(n, 0, bad)
        with pytest.raises(ValueError, match="factor"):
            s.set_debt_factor(0, bad)
    with pytest.raises(ValueError, match="category"):
        s.set_category(n, 2)
    with pytest.raises(ValueError, match="asset"):
        s.set_collateral_factor(2, 0, 1.0)
    with pytest.raises(ValueError, match="threshold"):
        s.screen(float("nan"))
    with pytest.raises(ValueError, match="shape"):
        s.set_collateral_factors(np.ones((2, 2)).T[:1])  # (1, 2) is not (2, 2)
    with pytest.raises(ValueError, match="shape"):
        s.set_collateral_factors(np.ones(4))  # flat: no silent reshape
    with pytest.raises(ValueError, match="shape"):
        s.set_asset_factors(0, [1.0])
