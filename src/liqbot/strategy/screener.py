"""Approximate health-factor screen over every known position, in float64, held so that a price update
re-screens only the positions that hold the asset whose price moved.

Model, per position n in risk category cat[n] (0 = none, k = an eMode category id):

    HF[n] = Σ_{a in coll(n)} amount_c[n, a] · cf[a, cat[n]]  /  Σ_{a in debt(n)} amount_d[n, a] · df[a]

The adapter chooses what `amount` and the factors mean (e.g. a scaled balance, and index·price·LT/unit).
Storage is sparse: for each asset, the positions that hold it and their amounts (what a factor change needs),
and for each position, which assets it holds and where (what a balance change needs). Per-position numerator
and denominator are kept up to date, so a factor change for asset a costs O(holders of a), not O(positions).

This is a filter, not a verdict: callers confirm each candidate with the protocol's exact integer math.

Float error this relies on (u = 2**-53 ≈ 1.1e-16):
  * each term amount·factor is one rounding; a sum of t non-negative terms is within ≈ t·u relative, so the
    ratio num/den (compared as num < threshold·den, one more rounding) is within (t_c + t_d + 1)·u ≈ 1.5e-14
    for t ≤ 64 per side, plus the few roundings the adapter spends turning integers into factors;
  * incremental factor updates (`num += amt·Δf`) each add ≤ ≈2u·|num before or after| absolute; at most
    `recompute_every` of them pass between full rebuilds, so the drift is ≤ ≈2u·R·(largest num in the
    window / num now): 2e-11 for R = 1000 and a factor that moved 100x inside the window.
  So a threshold of 1 + 1e-9 covers the float side and 1 + 1e-6 leaves wide room.
The protocols' own integer rounding is NOT covered by that: Aave truncates each asset's value to one
base-currency unit and the weighted liquidation threshold to whole basis points (`avg_lt // collateral`), so
its on-chain HF of a multi-collateral position can sit up to 1/avg_LT_bps (≈1.3e-4 at 80%) below this model;
Morpho truncates to one unit of the loan token. Choose the margin per protocol accordingly.

Not thread-safe: one owner (the strategy task) mutates and screens. Dense indexes are never reused.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]


class _Side:
    """Sparse (position, asset) -> amount for one side (collateral or debt), stored both ways round:
    per asset (pos, amt arrays, swap-removed so they stay dense) and per position (a short row of
    (asset, slot) pairs, widened on demand: most positions hold 1-4 assets)."""

    def __init__(self, n_assets: int, capacity: int) -> None:
        self.n_assets = n_assets
        self.pos: list[I32] = [np.empty(16, np.int32) for _ in range(n_assets)]
        self.amt: list[F64] = [np.empty(16, np.float64) for _ in range(n_assets)]
        self.count = [0] * n_assets
        self.width = min(4, n_assets)
        self.row_asset: I32 = np.full((capacity, self.width), -1, np.int32)
        self.row_slot: I32 = np.zeros((capacity, self.width), np.int32)
        self.row_len: I32 = np.zeros(capacity, np.int32)

    def grow(self, capacity: int) -> None:
        old = self.row_len.shape[0]
        self.row_asset = np.concatenate([self.row_asset, np.full((capacity - old, self.width), -1, np.int32)])
        self.row_slot = np.concatenate([self.row_slot, np.zeros((capacity - old, self.width), np.int32)])
        self.row_len = np.concatenate([self.row_len, np.zeros(capacity - old, np.int32)])

    def _widen(self, need: int) -> None:
        new = min(self.n_assets, max(need, 2 * self.width))
        extra = new - self.width
        cap = self.row_len.shape[0]
        self.row_asset = np.hstack([self.row_asset, np.full((cap, extra), -1, np.int32)])
        self.row_slot = np.hstack([self.row_slot, np.zeros((cap, extra), np.int32)])
        self.width = new

    def _reserve(self, asset: int, size: int) -> None:
        if size > self.pos[asset].shape[0]:
            new = max(size, 2 * self.pos[asset].shape[0])
            c = self.count[asset]
            pos, amt = np.empty(new, np.int32), np.empty(new, np.float64)
            pos[:c], amt[:c] = self.pos[asset][:c], self.amt[asset][:c]
            self.pos[asset], self.amt[asset] = pos, amt

    def held(self, asset: int) -> tuple[I32, F64]:
        c = self.count[asset]
        return self.pos[asset][:c], self.amt[asset][:c]

    def entries(self, n: int) -> list[tuple[int, float]]:
        k = int(self.row_len[n])
        slots = self.row_slot[n, :k].tolist()
        return [
            (a, float(self.amt[a][s])) for a, s in zip(self.row_asset[n, :k].tolist(), slots, strict=True)
        ]

    def _find(self, n: int, asset: int) -> int:
        row: list[int] = self.row_asset[n, : int(self.row_len[n])].tolist()
        return row.index(asset) if asset in row else -1

    def set(self, n: int, asset: int, amount: float) -> None:
        j = self._find(n, asset)
        if j >= 0 and amount != 0.0:
            self.amt[asset][self.row_slot[n, j]] = amount
        elif j >= 0:
            self._remove(n, j, asset)
        elif amount != 0.0:
            self._append(n, asset, amount)

    def _append(self, n: int, asset: int, amount: float) -> None:
        s = self.count[asset]
        self._reserve(asset, s + 1)
        self.pos[asset][s], self.amt[asset][s] = n, amount
        self.count[asset] = s + 1
        k = int(self.row_len[n])
        if k == self.width:
            self._widen(k + 1)
        self.row_asset[n, k], self.row_slot[n, k], self.row_len[n] = asset, s, k + 1

    def _remove(self, n: int, j: int, asset: int) -> None:
        s, last = int(self.row_slot[n, j]), self.count[asset] - 1
        if s != last:  # move the last holder into the hole so the asset's arrays stay dense
            moved = int(self.pos[asset][last])
            self.pos[asset][s], self.amt[asset][s] = moved, self.amt[asset][last]
            self.row_slot[moved, self._find(moved, asset)] = s
        self.count[asset] = last
        k = int(self.row_len[n]) - 1
        self.row_asset[n, j], self.row_slot[n, j] = self.row_asset[n, k], self.row_slot[n, k]
        self.row_asset[n, k], self.row_len[n] = -1, k

    def load(self, p: I64, a: I64, x: F64) -> None:
        """Add entries of positions that hold nothing yet on this side; sorted by (p, a), no duplicates."""
        if p.size == 0:
            return
        start = np.flatnonzero(np.concatenate([[True], p[1:] != p[:-1]]))
        lens = np.diff(np.append(start, p.size))
        col = np.arange(p.size) - np.repeat(start, lens)  # rank of the entry within its position's row
        if int(lens.max()) > self.width:
            self._widen(int(lens.max()))
        self.row_len[p[start]] = lens
        self.row_asset[p, col] = a
        small = np.int16 if self.n_assets <= 32767 else np.int32
        by_asset = np.argsort(a.astype(small), kind="stable")  # 16-bit ints get a radix sort
        bounds = np.cumsum(np.bincount(a, minlength=self.n_assets)).tolist()
        lo = 0
        for asset, hi in enumerate(bounds):
            if hi > lo:
                sel, base = by_asset[lo:hi], self.count[asset]
                self._reserve(asset, base + hi - lo)
                self.pos[asset][base : base + hi - lo] = p[sel]
                self.amt[asset][base : base + hi - lo] = x[sel]
                self.row_slot[p[sel], col[sel]] = np.arange(base, base + hi - lo)
                self.count[asset] = base + hi - lo
            lo = hi


def _entries(
    pos: npt.ArrayLike, asset: npt.ArrayLike, amount: npt.ArrayLike, m: int, n_assets: int
) -> tuple[I64, I64, F64]:
    """Validate one side of a bulk load; drop zero amounts; sort by (position, asset)."""
    p, a = np.asarray(pos, np.int64).ravel(), np.asarray(asset, np.int64).ravel()
    x = np.asarray(amount, np.float64).ravel()
    if not p.shape == a.shape == x.shape:
        raise ValueError(
            f"bulk_load: position, asset and amount arrays differ in length ({p.size}, {a.size}, {x.size})"
        )
    if p.size and (p.min() < 0 or p.max() >= m):
        raise ValueError(f"bulk_load: position index outside 0..{m - 1} (indexes into `keys`)")
    if a.size and (a.min() < 0 or a.max() >= n_assets):
        raise ValueError(f"bulk_load: asset outside 0..{n_assets - 1}")
    if not np.all(np.isfinite(x) & (x >= 0.0)):
        raise ValueError("bulk_load: amounts must be finite and >= 0")
    keep = x != 0.0
    p, a, x = p[keep], a[keep], x[keep]
    code = p * n_assets + a
    if not np.all(code[1:] > code[:-1]):  # snapshots usually come sorted already: skip the sort then
        order = np.argsort(code, kind="stable")
        p, a, x, code = p[order], a[order], x[order], code[order]
        if np.any(code[1:] == code[:-1]):
            raise ValueError("bulk_load: a (position, asset) pair appears twice on one side")
    return p, a, x


def _in_range(value: int, hi: int, what: str) -> int:
    if not 0 <= value < hi:
        raise ValueError(f"{what} {value} outside 0..{hi - 1}")
    return int(value)


def _finite(value: float, what: str, *, positive: bool = False) -> float:
    if not (np.isfinite(value) and (value > 0.0 if positive else value >= 0.0)):
        raise ValueError(f"{what} must be finite and {'>' if positive else '>='} 0, got {value!r}")
    return float(value)


class Screener:
    """Positions, their float balances and per-asset factors; see the module docstring for the model."""

    def __init__(
        self, n_assets: int, n_categories: int = 1, capacity: int = 1024, *, recompute_every: int = 1000
    ) -> None:
        if not (0 < n_assets < 2**31 and 0 < n_categories <= 32767 and recompute_every > 0):
            raise ValueError("need 1 <= n_assets < 2**31, 1 <= n_categories <= 32767, recompute_every >= 1")
        self.n_assets, self.n_categories, self.recompute_every = n_assets, n_categories, recompute_every
        cap = max(capacity, 1)
        self._coll, self._debt = _Side(n_assets, cap), _Side(n_assets, cap)
        self._cf: F64 = np.zeros((n_assets, n_categories))
        self._df: F64 = np.zeros(n_assets)
        self._num: F64 = np.zeros(cap)
        self._den: F64 = np.zeros(cap)
        self._cat: I16 = np.zeros(cap, np.int16)
        self._keys: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self._since_recompute = 0

    # -- positions -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    def _reserve(self, size: int) -> None:
        cap = self._num.shape[0]
        if size <= cap:
            return
        new = max(size, 2 * cap)
        self._num = np.concatenate([self._num, np.zeros(new - cap)])
        self._den = np.concatenate([self._den, np.zeros(new - cap)])
        self._cat = np.concatenate([self._cat, np.zeros(new - cap, np.int16)])
        self._coll.grow(new)
        self._debt.grow(new)

    def add_position(self, key: Hashable) -> int:
        idx = self._index.get(key)
        if idx is not None:
            return idx
        idx = len(self._keys)
        self._reserve(idx + 1)
        self._keys.append(key)
        self._index[key] = idx
        return idx

    def index_of(self, key: Hashable) -> int | None:
        return self._index.get(key)

    def key_of(self, idx: int) -> Hashable:
        return self._keys[self._check_idx(idx)]

    def _check_idx(self, idx: int) -> int:
        if not 0 <= idx < len(self._keys):
            raise IndexError(f"no position {idx} (have {len(self._keys)})")
        return int(idx)

    def set_category(self, idx: int, category: int) -> None:
        idx = self._check_idx(idx)
        self._cat[idx] = _in_range(category, self.n_categories, "category")
        self._refresh(idx)

    def set_collateral(self, idx: int, asset: int, amount: float) -> None:
        """Set a position's collateral amount of `asset`; 0 removes it."""
        idx, amount = self._check_idx(idx), _finite(amount, "amount")
        self._coll.set(idx, _in_range(asset, self.n_assets, "asset"), amount)
        self._refresh(idx)

    def set_debt(self, idx: int, asset: int, amount: float) -> None:
        """Set a position's debt amount of `asset`; 0 removes it."""
        idx, amount = self._check_idx(idx), _finite(amount, "amount")
        self._debt.set(idx, _in_range(asset, self.n_assets, "asset"), amount)
        self._refresh(idx)

    def _sums(self, idx: int) -> tuple[float, float]:
        k = int(self._cat[idx])
        num = sum(x * float(self._cf[a, k]) for a, x in self._coll.entries(idx))
        den = sum(x * float(self._df[a]) for a, x in self._debt.entries(idx))
        return float(num), float(den)

    def _refresh(self, idx: int) -> None:
        # A balance change rebuilds that one position's sums from its row: exact as of now, no drift.
        self._num[idx], self._den[idx] = self._sums(idx)

    def bulk_load(
        self,
        keys: Sequence[Hashable],
        category: npt.ArrayLike,
        coll_asset: npt.ArrayLike,
        coll_pos: npt.ArrayLike,
        coll_amount: npt.ArrayLike,
        debt_asset: npt.ArrayLike,
        debt_pos: npt.ArrayLike,
        debt_amount: npt.ArrayLike,
    ) -> I64:
        """Add len(keys) new positions at once (e.g. an adapter snapshot) and return their dense indexes.

        `category` is one int or one per key; `*_pos` index into `keys`; one entry per (position, asset) and
        side. Every key must be new. All input is checked before anything changes."""
        m, base = len(keys), len(self._keys)
        cat = np.broadcast_to(np.asarray(category, np.int64), (m,))
        if m and (cat.min() < 0 or cat.max() >= self.n_categories):
            raise ValueError(f"bulk_load: category outside 0..{self.n_categories - 1}")
        fresh = dict(zip(keys, range(base, base + m), strict=True))
        if len(fresh) != m or not self._index.keys().isdisjoint(fresh):
            raise ValueError("bulk_load: keys must be unique and not yet known (use set_* to update)")
        cp, ca, cx = _entries(coll_pos, coll_asset, coll_amount, m, self.n_assets)
        dp, da, dx = _entries(debt_pos, debt_asset, debt_amount, m, self.n_assets)
        self._reserve(base + m)
        self._keys.extend(keys)
        self._index.update(fresh)
        self._cat[base : base + m] = cat
        self._coll.load(cp + base, ca, cx)
        self._debt.load(dp + base, da, dx)
        self._num[base : base + m] = np.bincount(cp, weights=cx * self._cf[ca, cat[cp]], minlength=m)
        self._den[base : base + m] = np.bincount(dp, weights=dx * self._df[da], minlength=m)
        return np.arange(base, base + m, dtype=np.int64)

    # -- factors ---------------------------------------------------------------------------------------

    def set_collateral_factor(self, asset: int, category: int, factor: float) -> None:
        """Change cf[asset, category]; only the holders of `asset` are touched."""
        row = self._cf[_in_range(asset, self.n_assets, "asset")].copy()
        row[_in_range(category, self.n_categories, "category")] = _finite(factor, "factor")
        self.set_asset_factors(asset, row)

    def set_debt_factor(self, asset: int, factor: float) -> None:
        """Change df[asset]; only the positions that owe `asset` are touched."""
        self.set_asset_factors(_in_range(asset, self.n_assets, "asset"), self._cf[asset], factor)

    def set_asset_factors(self, asset: int, cf: npt.ArrayLike, df: float | None = None) -> None:
        """One price update of `asset`: its collateral factor in every category (and its debt factor), in one
        pass over its holders per side, instead of one pass per category."""
        asset = _in_range(asset, self.n_assets, "asset")
        new = _factors(cf, (self.n_categories,))
        delta = new - self._cf[asset]
        if np.any(delta != 0.0):
            self._cf[asset] = new  # the exact new value; only the sums take the rounded delta
            p, x = self._coll.held(asset)
            # Each position holds an asset at most once, so the fancy += sees no repeated index.
            self._num[p] += x * (delta[0] if self.n_categories == 1 else delta[self._cat[p]])
            self._tick()
        new_df = float(self._df[asset]) if df is None else _finite(df, "factor")
        if (ddf := new_df - float(self._df[asset])) != 0.0:
            self._df[asset] = new_df
            p, x = self._debt.held(asset)
            self._den[p] += x * ddf
            self._tick()

    def set_collateral_factors(self, cf: npt.ArrayLike) -> None:
        """Replace the whole (n_assets, n_categories) matrix (e.g. after index accrual), then recompute."""
        self._cf = _factors(cf, self._cf.shape)
        self.recompute()

    def set_debt_factors(self, df: npt.ArrayLike) -> None:
        self._df = _factors(df, self._df.shape)
        self.recompute()

    def _tick(self) -> None:
        self._since_recompute += 1
        if self._since_recompute >= self.recompute_every:
            self.recompute()

    def recompute(self) -> None:
        """Rebuild every numerator and denominator from the stored amounts and factors (O(entries)),
        dropping the rounding drift incremental updates have accumulated."""
        self._num.fill(0.0)
        self._den.fill(0.0)
        for a in range(self.n_assets):
            p, x = self._coll.held(a)
            if p.size:
                self._num[p] += x * (self._cf[a, 0] if self.n_categories == 1 else self._cf[a][self._cat[p]])
            p, x = self._debt.held(a)
            if p.size:
                self._den[p] += x * self._df[a]
        self._since_recompute = 0

    # -- screening -------------------------------------------------------------------------------------

    def health(self, idx: int) -> float:
        """One position's HF, summed afresh from its balances (+inf without debt)."""
        num, den = self._sums(self._check_idx(idx))
        return num / den if den > 0.0 else float("inf")

    def healths(self, idx: npt.ArrayLike | None = None) -> F64:
        """HF of `idx` (default: every position) from the maintained sums the screens use."""
        sel = np.arange(len(self._keys)) if idx is None else np.asarray(idx, np.int64)
        if sel.size and (sel.min() < 0 or sel.max() >= len(self._keys)):
            raise IndexError(f"position index outside 0..{len(self._keys) - 1}")
        num, den = self._num[sel], self._den[sel]
        out: F64 = np.full(sel.shape, np.inf)
        np.divide(num, den, out=out, where=den > 0.0)
        return out

    def screen(self, threshold: float = 1.0) -> I64:
        """Indexes (ascending) of all positions with HF < threshold. Positions without debt never qualify."""
        n, t = len(self._keys), _finite(threshold, "threshold", positive=True)
        num, den = self._num[:n], self._den[:n]
        # num < t·den instead of a division: no inf/nan, one pass fewer.
        return np.flatnonzero((num < t * den) & (den > 0.0)).astype(np.int64)

    def screen_holders(self, asset: int, threshold: float = 1.0) -> I64:
        """Like screen(), restricted to the positions holding `asset` as collateral or debt; O(holders)."""
        asset, t = _in_range(asset, self.n_assets, "asset"), _finite(threshold, "threshold", positive=True)
        found = []
        for side in (self._coll, self._debt):
            p, _ = side.held(asset)
            num, den = self._num.take(p), self._den.take(p)  # take: a little faster than fancy indexing
            found.append(p[(num < t * den) & (den > 0.0)])
        return np.union1d(found[0], found[1]).astype(np.int64)

    def holders(self, asset: int) -> I64:
        """Indexes (ascending) of the positions holding `asset` as collateral or debt."""
        asset = _in_range(asset, self.n_assets, "asset")
        return np.union1d(self._coll.held(asset)[0], self._debt.held(asset)[0]).astype(np.int64)


def _factors(values: npt.ArrayLike, shape: tuple[int, ...]) -> F64:
    arr = np.array(values, np.float64)  # a copy: the caller's array stays theirs
    if arr.shape != shape:  # no reshape: a transposed (K, A) matrix must not pass silently
        raise ValueError(f"factors must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr) & (arr >= 0.0)):
        raise ValueError("factors must be finite and >= 0")
    return arr
