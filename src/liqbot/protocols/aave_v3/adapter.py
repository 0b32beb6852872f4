"""The Aave V3 adapter: exact local state (sync.py) + a float screen (strategy/screener.py) + exact
confirmation and liquidation options (math.py, liquidation.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from eth_utils import to_checksum_address

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient
from liqbot.contracts import topic
from liqbot.core.fixed import RAY, MathRevertError
from liqbot.core.types import LiquidationOption, Skip, SkipReason
from liqbot.protocols.aave_v3.liquidation import LiquidationRevertError, quote_liquidation
from liqbot.protocols.aave_v3.math import liquidation_inputs
from liqbot.protocols.aave_v3.state import AaveState
from liqbot.protocols.aave_v3.sync import AaveMarketSync
from liqbot.protocols.base import Advance, Progress, ProtocolAdapter
from liqbot.strategy.screener import Screener

WAD = 10**18
T_LIQUIDATION_CALL = topic("Pool", "LiquidationCall")
MAX_UINT = 2**256 - 1
# Aave truncates each asset's value to a base unit and the weighted LT to whole bps, so its HF can sit up
# to ~1/avg_LT_bps below the float model (see screener.py): screen a little above 1, then confirm exactly.
SCREEN_THRESHOLD = 1.0 + 3e-4
# Interest moves every HF by ~1e-9 per second: a full re-screen once a minute, with the positions near 1 on a
# watch list checked exactly every block, misses nothing; prices and balances are handled as they change.
FULL_RESCREEN_S = 60.0
WATCH_BELOW = WAD + WAD // 1000

_REVERT_REASONS = {
    "HEALTH_FACTOR_NOT_BELOW_THRESHOLD": SkipReason.NOT_LIQUIDATABLE,
    "PRICE_ORACLE_SENTINEL_CHECK_FAILED": SkipReason.SEQUENCER_DOWN,
    "RESERVE_INACTIVE": SkipReason.RESERVE_PAUSED,
    "RESERVE_PAUSED": SkipReason.RESERVE_PAUSED,
    "MUST_NOT_LEAVE_DUST": SkipReason.DUST,
}


class AaveV3Adapter(ProtocolAdapter):
    protocol = "aave_v3"
    finished = True

    def __init__(self, client: ChainClient, provider: str, block_time_s: float = 12.0) -> None:
        super().__init__()
        self.client = client
        self.sync = AaveMarketSync(client, provider)
        self.block_time_s = block_time_s
        self.screener: Screener | None = None
        self._full_every = max(1, round(FULL_RESCREEN_S / block_time_s))
        self._blocks_since_full = 0
        self._watch: set[int] = set()

    # --- interface --------------------------------------------------------------------------------------
    @property
    def state(self) -> AaveState:
        if self.sync.state is None:
            raise RuntimeError("bootstrap() first")
        return self.sync.state

    @property
    def chain_id(self) -> int:
        return self.client.chain_id

    @property
    def market_id(self) -> str:
        return self.sync.parts.get("pool", self.sync.provider)

    @property
    def block(self) -> int:
        return self.state.block

    def watched_addresses(self) -> list[str]:
        return self.sync.watched_addresses()

    def accounts(self) -> set[str]:
        return set(self.sync.users)

    def assets(self) -> dict[str, tuple[int, str]]:
        st = self.state
        return {
            m.asset: (st.reserve_state[rid].configuration.decimals, m.price_source)
            for rid, m in st.reserves.items()
        }

    @property
    def flash_premium_bps(self) -> int:
        return self.state.flash_premium_bps

    async def bootstrap(
        self, start_block: int, to_block: int, known_accounts: Iterable[str], progress: Progress | None
    ) -> None:
        await self.sync.bootstrap(start_block, to_block, known_accounts, progress)
        self._build_screen()
        # Screen everyone at the first block: after a restart, positions that became liquidatable while the
        # bot was down must not wait for the periodic full screen.
        self._blocks_since_full = self._full_every

    def screen_everyone_next(self) -> None:
        self._blocks_since_full = self._full_every

    async def advance(self, to_block: int, logs: list[dict[str, Any]]) -> Advance:
        """Per block: holders of repriced assets, users the block touched and the near-threshold watch list
        are screened; everyone is re-screened every FULL_RESCREEN_S (interest accrual is slow)."""
        before_state, before = self.sync.state, dict(self.state.prices)
        changed = await self.sync.advance(to_block, logs)
        st = self.state
        if st is not before_state:  # the market was reloaded (a configuration change): rebuild the screen
            self._build_screen()
            self._blocks_since_full = self._full_every
        repriced = {st.reserves[r].asset for r, p in st.prices.items() if before.get(r) != p}
        sc = self._screen()
        for user in changed:
            self._load_user(sc, user)
        self._blocks_since_full += 1
        candidates: set[int] = set(self._watch)
        if self._blocks_since_full >= self._full_every:
            self._set_factors(sc)
            candidates.update(int(i) for i in sc.screen(SCREEN_THRESHOLD))
            self._blocks_since_full = 0
        else:
            for asset in repriced:
                rid = st.reserve_id(asset)
                if rid is not None:
                    self._set_factors(sc, only=rid)
                    candidates.update(int(i) for i in sc.screen_holders(rid, SCREEN_THRESHOLD))
        for user in changed:
            idx = sc.index_of(user)
            if idx is not None and sc.health(idx) < SCREEN_THRESHOLD:
                candidates.add(idx)
        liquidatable, self._watch = {}, set()
        for idx in candidates:
            user = str(sc.key_of(idx))
            hf = st.account_data(user).health_factor
            if hf < WATCH_BELOW:
                self._watch.add(idx)  # checked exactly every block until it is clearly healthy again
            if hf < WAD:
                liquidatable[user] = hf
        return Advance(changed, repriced, liquidatable)

    def options(self, borrower: str, *, sentinel_allows: bool | None) -> list[LiquidationOption] | Skip:
        st = self.state
        ts = st.timestamp + max(1, int(self.block_time_s))  # the liquidation lands in the next block
        market, position = st.market(), st.position(borrower)
        account = st.account_data(borrower, ts)
        if account.health_factor >= WAD:
            return Skip(SkipReason.NOT_LIQUIDATABLE, f"HF {account.health_factor / WAD:.6f} at next block")
        out: list[LiquidationOption] = []
        last: Skip = Skip(SkipReason.BAD_DEBT, "no collateral to seize")
        u = st.users[borrower]
        for cid, scaled in u.scaled_a.items():
            if scaled <= 0 or not position.config.is_using_as_collateral(cid):
                continue
            for did, debt in u.scaled_v.items():
                if debt <= 0 and not (did in u.stable and u.stable[did].principal):
                    continue
                try:
                    inputs = liquidation_inputs(market, position, cid, did, ts, account)
                    q = quote_liquidation(st.revision, inputs, MAX_UINT, sentinel_allows=sentinel_allows)
                except LiquidationRevertError as exc:
                    last = Skip(_REVERT_REASONS.get(exc.reason, SkipReason.NOT_LIQUIDATABLE), str(exc))
                    continue
                except MathRevertError as exc:  # overflow or a zero price: the call would revert too
                    last = Skip(
                        SkipReason.NO_PRICE if "price" in str(exc) else SkipReason.NOT_LIQUIDATABLE, str(exc)
                    )
                    continue
                c, d = st.reserve_state[cid].configuration, st.reserve_state[did].configuration
                out.append(
                    LiquidationOption(
                        chain_id=self.client.chain_id,
                        protocol=self.protocol,
                        market=self.market_id,
                        borrower=borrower,
                        collateral_asset=st.reserves[cid].asset,
                        debt_asset=st.reserves[did].asset,
                        debt_to_cover=q.debt_to_repay,
                        collateral_to_liquidator=q.collateral_to_liquidator,
                        protocol_fee=q.protocol_fee,
                        health_factor=account.health_factor,
                        block=st.block,
                        collateral_price=inputs.collateral_price,
                        debt_price=inputs.debt_price,
                        collateral_decimals=c.decimals,
                        debt_decimals=d.decimals,
                    )
                )
        return out or last

    def liquidations(self, logs: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
        pool = self.market_id.lower()
        out: list[tuple[str, int, str]] = []
        for x in logs:
            t = x.get("topics") or []
            if str(x["address"]).lower() == pool and t and str(t[0]).lower() == T_LIQUIDATION_CALL:
                user = to_checksum_address("0x" + str(t[3])[-40:])
                out.append((user, int(x["blockNumber"], 16), str(x["transactionHash"])))
        return out

    def liquidation_call(self, option: LiquidationOption, receiver: str) -> tuple[str, bytes]:
        del receiver  # Pool.liquidationCall pays msg.sender
        data = fn("Pool", "liquidationCall").encode(
            option.collateral_asset, option.debt_asset, option.borrower, option.debt_to_cover, False
        )
        return self.market_id, data

    # --- the screen ---------------------------------------------------------------------------------------
    def _screen(self) -> Screener:
        if self.screener is None:
            raise RuntimeError("bootstrap() first")
        return self.screener

    def _build_screen(self) -> None:
        st = self.state
        n_assets = max(st.reserves) + 1 if st.reserves else 1
        n_cats = max([0, *st.emode]) + 1
        self._watch = set()  # dense indexes of the old screen mean nothing in the new one
        self.screener = sc = Screener(n_assets, n_cats, capacity=max(1024, len(st.users) * 2))
        self._set_factors(sc)
        keys = sorted(st.users)
        cats: list[int] = []
        coll: list[tuple[int, int, float]] = []  # (position, reserve, amount)
        debt: list[tuple[int, int, float]] = []
        for i, user in enumerate(keys):
            u = st.users[user]
            cats.append(u.emode if u.emode < n_cats else 0)
            coll += [
                (i, rid, float(amount))
                for rid, amount in u.scaled_a.items()
                if amount > 0 and (u.collateral_bits >> ((rid << 1) + 1)) & 1
            ]
            debt += [(i, rid, amount) for rid, amount in self._debts(user).items()]
        cp, ca, cx = zip(*coll, strict=True) if coll else ((), (), ())
        dp, da, dx = zip(*debt, strict=True) if debt else ((), (), ())
        sc.bulk_load(keys, cats, ca, cp, cx, da, dp, dx)

    def _debts(self, user: str) -> dict[int, float]:
        """Debt per reserve in scaled-variable units (stable debt converted at the current index)."""
        st, u = self.state, self.state.users[user]
        out = {rid: float(v) for rid, v in u.scaled_v.items() if v > 0}
        for rid, sd in u.stable.items():
            if sd.principal:
                index = st.reserve_state[rid].normalized_debt(st.timestamp)
                out[rid] = out.get(rid, 0.0) + sd.balance(st.timestamp) * RAY / index
        return out

    def _load_user(self, sc: Screener, user: str) -> None:
        st = self.state
        u = st.users.get(user)
        if u is None:
            return
        idx = sc.add_position(user)
        sc.set_category(idx, u.emode if u.emode < sc.n_categories else 0)
        debts = self._debts(user)
        for rid in st.reserves:
            coll = u.scaled_a.get(rid, 0) if (u.collateral_bits >> ((rid << 1) + 1)) & 1 else 0
            sc.set_collateral(idx, rid, float(max(coll, 0)))
            sc.set_debt(idx, rid, debts.get(rid, 0.0))

    def _set_factors(self, sc: Screener, only: int | None = None) -> None:
        """cf[r, k] = income index · price · LT / unit (k: eMode category); df[r] = debt index · price."""
        st = self.state
        ts = st.timestamp
        cf = np.zeros((sc.n_assets, sc.n_categories))
        df = np.zeros(sc.n_assets)
        for rid, rs in st.reserve_state.items():
            if only is not None and rid != only:
                continue
            cfg = rs.configuration
            unit = float(10**cfg.decimals)
            price = float(st.prices.get(rid, 0))
            income = rs.normalized_income(ts) / RAY
            df[rid] = rs.normalized_debt(ts) / RAY * price / unit
            for k in range(sc.n_categories):
                lt, p = cfg.liquidation_threshold, price
                if k and cfg.emode_category == k and k in st.emode:
                    lt = st.emode[k].liquidation_threshold
                    p = float(st.emode[k].price or price)
                cf[rid, k] = income * p * lt / 1e4 / unit
        if only is None:
            sc.set_collateral_factors(cf)
            sc.set_debt_factors(df)
        else:
            sc.set_asset_factors(only, cf[only], float(df[only]))
