"""Screener speed: bulk load, full screen, a price move re-screened through the holders of one asset, and a
full recompute, against the naive way (a Python loop over every position's balance dicts) in the same run.

    .venv/bin/python benchmarks/bench_screener.py [--sizes 10000 100000 1000000] [--runs 5]
        [--naive-max 1000000]

Synthetic book, seeded: 20 assets, 2 categories; each position holds 1-3 collateral and 1-2 debt assets with
target health factors spread over 0.95..3, so a few percent are below 1.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from liqbot.strategy.screener import Screener

N_ASSETS, N_CATEGORIES, THRESHOLD = 20, 2, 1.0 + 1e-6
Book = dict[str, Any]


def make_book(n: int, seed: int = 1) -> Book:
    rng = np.random.default_rng(seed)
    price = rng.lognormal(0.0, 2.0, N_ASSETS)
    lt = rng.uniform(0.6, 0.85, N_ASSETS)
    cf = np.stack([price * lt, price * np.minimum(lt + 0.1, 0.95)], axis=1)  # category 1: a higher eMode LT
    df = price.copy()
    cat = (rng.random(n) < 0.2).astype(np.int64)
    picks = rng.random((n, N_ASSETS)).argsort(axis=1)  # distinct assets per position and side
    n_coll, n_debt = rng.integers(1, 4, n), rng.integers(1, 3, n)
    c_mask = np.arange(3) < n_coll[:, None]
    c_pos, c_asset = np.nonzero(c_mask)[0], picks[:, :3][c_mask]
    c_value = rng.lognormal(8.0, 2.0, c_pos.size)  # in base currency
    c_amount = c_value / price[c_asset]
    weighted = np.bincount(c_pos, weights=c_amount * cf[c_asset, cat[c_pos]], minlength=n)
    d_mask = np.arange(2) < n_debt[:, None]
    d_pos, d_asset = np.nonzero(d_mask)[0], picks[:, 3:5][d_mask]
    share = rng.random(d_pos.size)
    share /= np.bincount(d_pos, weights=share, minlength=n)[d_pos]
    target_hf = rng.uniform(0.95, 3.0, n)
    d_amount = (weighted / target_hf)[d_pos] * share / price[d_asset]
    keys = [f"0x{k:040x}" for k in rng.permutation(n).tolist()]  # address-like, as adapters key them
    return {
        "n": n,
        "keys": keys,
        "cf": cf,
        "df": df,
        "cat": cat,
        "coll": (c_asset, c_pos, c_amount),
        "debt": (d_asset, d_pos, d_amount),
    }


def load(book: Book) -> Screener:
    s = Screener(N_ASSETS, N_CATEGORIES, capacity=book["n"])
    s.set_collateral_factors(book["cf"])
    s.set_debt_factors(book["df"])
    s.bulk_load(book["keys"], book["cat"], *book["coll"], *book["debt"])
    return s


def naive_positions(book: Book) -> list[tuple[int, dict[int, float], dict[int, float]]]:
    out: list[tuple[int, dict[int, float], dict[int, float]]] = [(int(k), {}, {}) for k in book["cat"]]
    for side, arrays in ((1, book["coll"]), (2, book["debt"])):
        for a, p, x in zip(*(arr.tolist() for arr in arrays), strict=True):
            out[p][side][a] = x
    return out


def naive_screen(
    positions: list[tuple[int, dict[int, float], dict[int, float]]], cf: list[list[float]], df: list[float]
) -> list[int]:
    """The way without an index: every position's HF from its balance dicts, one at a time."""
    out = []
    for n, (cat, coll, debt) in enumerate(positions):
        den = sum(x * df[a] for a, x in debt.items())
        if den > 0.0 and sum(x * cf[a][cat] for a, x in coll.items()) < THRESHOLD * den:
            out.append(n)
    return out


def median_s(fn: Callable[[], object], runs: int, setup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(runs):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1.0 else f"{seconds:.3g} s"


def bench(n: int, runs: int, naive_max: int) -> dict[str, float | None]:
    book = make_book(n)
    r: dict[str, float | None] = {"bulk_load": median_s(lambda: load(book), runs)}
    s = load(book)
    r["screen"] = median_s(lambda: s.screen(THRESHOLD), max(runs, 7))
    asset, rng = 3, np.random.default_rng(2)
    holders = s.holders(asset).size

    def price_move() -> None:  # one oracle update of `asset`: its cf in both categories and its df
        m = float(rng.uniform(0.97, 1.0))
        s.set_asset_factors(asset, book["cf"][asset] * m, float(book["df"][asset] * m))

    r["update"] = median_s(price_move, max(runs, 15))
    r["holders"] = median_s(lambda: s.screen_holders(asset, THRESHOLD), max(runs, 15), setup=price_move)
    r["recompute"] = median_s(s.recompute, runs)
    r["naive"] = None
    vec = s.screen(THRESHOLD)
    if n <= naive_max:
        positions = naive_positions(book)
        cf, df = s._cf.tolist(), s._df.tolist()  # the same factors, after the price moves
        r["naive"] = median_s(lambda: naive_screen(positions, cf, df), runs)
        diff = np.setxor1d(vec, naive_screen(positions, cf, df)).size
        print(f"  n={n}: {vec.size} candidates, {holders} holders of asset {asset}, {diff} differ from naive")
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--naive-max", type=int, default=1_000_000, help="largest size the naive loop runs at")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, numpy {np.__version__}")
    t0 = time.perf_counter()
    rows = {n: bench(n, args.runs, args.naive_max) for n in args.sizes}
    cols = ["bulk_load", "screen", "update", "holders", "recompute", "naive"]
    print(
        f"\n{'positions':>10} | "
        + " | ".join(f"{c:>10}" for c in cols)
        + " | naive/screen | naive/(update+holders)"
    )
    for n, r in rows.items():
        naive, scr, inc = r["naive"], r["screen"], (r["update"] or 0.0) + (r["holders"] or 0.0)
        ratio1 = f"{naive / scr:.0f}x" if naive and scr else "n/a"
        ratio2 = f"{naive / inc:.0f}x" if naive and inc else "n/a"
        print(
            f"{n:>10} | " + " | ".join(f"{fmt(r[c]):>10}" for c in cols) + f" | {ratio1:>12} | {ratio2:>10}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nmedians of >= {args.runs} runs; peak RSS {peak:.0f} MiB; total {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
