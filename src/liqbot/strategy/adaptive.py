"""Adaptive thresholds: the next (min profit, gas bid share) of one chain × protocol from its recent attempts.

PURE: the caller reads the window's statistics from the database and stores the result. Each update moves a
value by at most one step, toward a target chosen by what the window shows:

    min profit   a cost signal (reverts above the limit, realized below expected, gas above expected)
                 → up one step, toward hi. A healthy window (hit rate at or above the minimum, realized
                 ≈ expected) → back toward the static default, or toward lo when realized beats expected.
                 Below the default without a healthy window → back up toward the default; else hold.
    gas share    many lost races while few reverts (we are being outbid) → up one step, toward hi. No lost
                 race, a good hit rate and few reverts (we may be overpaying) → toward lo. Lost races within
                 the limit → toward the default. Many lost races with many reverts (a tip won't help) → hold.

Below `min_sample` sent attempts nothing moves. Values never leave [lo, hi]; a value found outside (the bounds
changed) is first clamped. Every call returns sentences saying which signal moved what, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal, localcontext

from liqbot.config.models import ThresholdsConfig

ONE = Decimal(1)


@dataclass(frozen=True)
class WindowStats:
    """The recent sent attempts of one chain × protocol: sent = submitted and ended (included, reverted,
    lost_race or failed). Profits are before gas (realized profit is what the executor kept; gas is paid by
    the signer) and summed over included rows whose realized profit is known. Gas: expected vs paid, over
    rows with a receipt; `gas_spent_usd` is None when the gas token had no price."""

    sent: int = 0
    included: int = 0
    reverted: int = 0
    lost_races: int = 0
    expected_usd: Decimal = Decimal(0)
    realized_usd: Decimal = Decimal(0)
    gas_expected_usd: Decimal = Decimal(0)
    gas_spent_usd: Decimal | None = None

    def __post_init__(self) -> None:
        if min(self.sent, self.included, self.reverted, self.lost_races) < 0:
            raise ValueError("counts cannot be negative")
        if self.included + self.reverted + self.lost_races > self.sent:
            raise ValueError("included + reverted + lost races cannot exceed sent")

    def rate(self, part: int) -> Decimal:
        return Decimal(part) / Decimal(self.sent) if self.sent else Decimal(0)

    def profit_ratio(self) -> Decimal | None:
        """realized / expected, before gas (None: nothing to compare)."""
        return self.realized_usd / self.expected_usd if self.expected_usd > 0 else None

    def gas_ratio(self) -> Decimal | None:
        """gas paid / gas expected (None: nothing to compare)."""
        if self.gas_spent_usd is None or self.gas_expected_usd <= 0:
            return None
        return self.gas_spent_usd / self.gas_expected_usd

    def as_dict(self) -> dict[str, str | int | None]:
        return {k: v if isinstance(v, int) or v is None else str(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Levels:
    min_profit_usd: Decimal
    gas_share: Decimal  # the share of the surplus bid as priority fee (thresholds.priority_fee_profit_share)


@dataclass(frozen=True)
class Policy:
    """The static defaults, the bounds and the rules' limits; `Policy.of(cfg.thresholds)`."""

    default: Levels
    profit_bounds: tuple[Decimal, Decimal]
    share_bounds: tuple[Decimal, Decimal]
    profit_step: Decimal
    share_step: Decimal
    min_sample: int
    revert_rate_max: Decimal
    lost_race_rate_max: Decimal
    hit_rate_min: Decimal
    profit_tolerance: Decimal
    gas_tolerance: Decimal

    def __post_init__(self) -> None:
        for name, (lo, hi), static in (
            ("min profit", self.profit_bounds, self.default.min_profit_usd),
            ("gas share", self.share_bounds, self.default.gas_share),
        ):
            if not lo <= static <= hi:
                raise ValueError(f"{name}: bounds [{lo}, {hi}] must contain the default {static}")
        if self.profit_step <= 0 or self.share_step <= 0:
            raise ValueError("steps must be positive")

    @classmethod
    def of(cls, t: ThresholdsConfig) -> Policy:
        a = t.adaptive
        return cls(
            default=Levels(t.min_profit_usd, t.priority_fee_profit_share),
            profit_bounds=t.min_profit_bounds(),
            share_bounds=t.gas_share_bounds(),
            profit_step=a.min_profit_step_usd,
            share_step=a.priority_fee_profit_share_step,
            min_sample=a.min_sample,
            revert_rate_max=a.revert_rate_max,
            lost_race_rate_max=a.lost_race_rate_max,
            hit_rate_min=a.hit_rate_min,
            profit_tolerance=a.profit_tolerance,
            gas_tolerance=a.gas_tolerance,
        )


@dataclass(frozen=True)
class Decision:
    levels: Levels
    notes: tuple[str, ...]  # one sentence per signal that moved (or held) a value

    def changed_from(self, before: Levels) -> bool:
        return self.levels != before


def next_levels(stats: WindowStats, current: Levels, policy: Policy) -> Decision:
    """The values for the next period and why."""
    notes: list[str] = []
    cur = Levels(
        _clamp(current.min_profit_usd, policy.profit_bounds), _clamp(current.gas_share, policy.share_bounds)
    )
    if cur != current:
        notes.append(
            f"outside the bounds (min profit {_b(policy.profit_bounds)}, "
            f"gas share {_b(policy.share_bounds)}): clamped"
        )
    if stats.sent < policy.min_sample:
        notes.append(
            f"{stats.sent} sent attempts in the window, fewer than min_sample {policy.min_sample}: hold"
        )
        return Decision(cur, tuple(notes))
    with localcontext() as ctx:
        ctx.prec = 28
        profit, why_profit = _min_profit(stats, cur.min_profit_usd, policy)
        share, why_share = _gas_share(stats, cur.gas_share, policy)
    return Decision(Levels(profit, share), (*notes, why_profit, why_share))


def _min_profit(s: WindowStats, cur: Decimal, p: Policy) -> tuple[Decimal, str]:
    lo, hi = p.profit_bounds
    default = p.default.min_profit_usd
    revert, hit = s.rate(s.reverted), s.rate(s.included)
    ratio, gas = s.profit_ratio(), s.gas_ratio()
    costs = []
    if revert > p.revert_rate_max:
        costs.append(f"revert rate {_pct(revert)} > {_pct(p.revert_rate_max)}")
    if ratio is not None and ratio < ONE - p.profit_tolerance:
        costs.append(f"realized {_pct(ratio)} of expected profit (< {_pct(ONE - p.profit_tolerance)})")
    if gas is not None and gas > ONE + p.gas_tolerance:
        costs.append(f"gas paid {_pct(gas)} of expected (> {_pct(ONE + p.gas_tolerance)})")
    if costs:
        return _toward(cur, hi, p.profit_step, "min profit", "; ".join(costs) + ": raise")
    healthy = hit >= p.hit_rate_min and ratio is not None
    if healthy and ratio is not None and ratio >= ONE + p.profit_tolerance:
        why = f"hit rate {_pct(hit)}, realized {_pct(ratio)} of expected: room below the default"
        return _toward(cur, lo, p.profit_step, "min profit", why)
    if healthy:
        why = f"hit rate {_pct(hit)} >= {_pct(p.hit_rate_min)}, realized ≈ expected: ease back to the default"
        return _toward(cur, default, p.profit_step, "min profit", why)
    why = f"hit rate {_pct(hit)}" + (" (no realized profit to compare)" if ratio is None else "")
    if cur < default:
        return _toward(
            cur, default, p.profit_step, "min profit", why + ": not enough to stay below the default"
        )
    return cur, f"min profit {cur} held: {why}, no cost signal"


def _gas_share(s: WindowStats, cur: Decimal, p: Policy) -> tuple[Decimal, str]:
    lo, hi = p.share_bounds
    default = p.default.gas_share
    lost, revert, hit = s.rate(s.lost_races), s.rate(s.reverted), s.rate(s.included)
    if lost > p.lost_race_rate_max and revert <= p.revert_rate_max:
        why = f"lost races {_pct(lost)} > {_pct(p.lost_race_rate_max)}, reverts {_pct(revert)}: outbid, raise"
        return _toward(cur, hi, p.share_step, "gas share", why)
    if s.lost_races == 0 and hit >= p.hit_rate_min and revert <= p.revert_rate_max:
        why = f"no lost race, hit rate {_pct(hit)}, reverts {_pct(revert)}: the tip may be more than needed"
        return _toward(cur, lo, p.share_step, "gas share", why)
    if lost <= p.lost_race_rate_max:
        why = f"lost races {_pct(lost)} <= {_pct(p.lost_race_rate_max)}: ease back to the default"
        return _toward(cur, default, p.share_step, "gas share", why)
    why = f"lost races {_pct(lost)}, but reverts {_pct(revert)} > {_pct(p.revert_rate_max)}: a tip won't help"
    if cur < default:
        return _toward(cur, default, p.share_step, "gas share", why + ": back to the default")
    return cur, f"gas share {cur} held: {why}"


def _toward(cur: Decimal, target: Decimal, step: Decimal, name: str, why: str) -> tuple[Decimal, str]:
    nxt = min(cur + step, target) if target >= cur else max(cur - step, target)
    if nxt == cur:
        return cur, f"{name} {cur} unchanged (already at {target}): {why}"
    return nxt, f"{name} {cur} → {nxt}: {why}"


def _clamp(value: Decimal, bounds: tuple[Decimal, Decimal]) -> Decimal:
    return min(max(value, bounds[0]), bounds[1])


def _pct(x: Decimal) -> str:
    return f"{x * 100:.1f}%"


def _b(bounds: tuple[Decimal, Decimal]) -> str:
    return f"[{bounds[0]}, {bounds[1]}]"
