"""The live executor (funds and flash modes): turn a priced opportunity into a call of our executor
contract that can only end in profit or revert, and hand it to the sender (simulate → sign → send → track).

The on-chain minimum profit covers the worst-case gas of the bid plus the L1 data fee, so a liquidation that
lands can never lose money; the strategy's min-profit threshold still decides whether to try at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import structlog

from liqbot.chain.abi_call import fn
from liqbot.chain.client import ChainClient
from liqbot.config import ChainConfig, LiqbotConfig
from liqbot.core.types import Opportunity, ProfitBreakdown, Skip, SkipReason
from liqbot.execution.executor_contract import (
    MAX_UINT,
    AaveTarget,
    MorphoMarket,
    MorphoTarget,
    RouterKind,
    SwapLeg,
    encode_liquidation,
)
from liqbot.execution.executor_contract import Funding as ContractFunding
from liqbot.execution.executor_contract import Source as ContractSource
from liqbot.execution.plan import Funding, Liquidity, Source, choose_funding, min_amount_out, min_profit_units
from liqbot.execution.sender import LiquidationTx, TxSender
from liqbot.pricing.gas import fee_bid
from liqbot.protocols.aave_v3.adapter import AaveV3Adapter
from liqbot.protocols.base import ProtocolAdapter
from liqbot.protocols.morpho_blue.adapter import MorphoBlueAdapter
from liqbot.risk import killswitch
from liqbot.risk.caps import SessionTally
from liqbot.risk.guard import RiskGuard
from liqbot.store import AttemptStatus, Store
from liqbot.strategy.pricing import MarketFacts
from liqbot.telemetry.metrics import Metrics

log = structlog.get_logger("liqbot.live")
FLASH_BUFFER_BPS = 10  # borrow 0.1% over the quoted debt: interest accrues until inclusion
_SOURCES = {
    Source.FUNDS: ContractSource.FUNDS,
    Source.AAVE_FLASH: ContractSource.AAVE_FLASH,
    Source.MORPHO_FLASH: ContractSource.MORPHO_FLASH,
    Source.MORPHO_CALLBACK: ContractSource.MORPHO_CALLBACK,
}


@dataclass
class LiveResult:
    attempt_id: int
    status: str
    reason: str | None
    skip: SkipReason | None = None  # a skip's reason, for the skip metric


def skip_of(status: str, reason: str | None) -> SkipReason | None:
    """The SkipReason a skipped attempt's reason text starts with ("<reason>: <detail>")."""
    if status != "skipped" or not reason:
        return None
    head = reason.split(":", 1)[0].strip()
    if head == "gas budget":  # the sender's FeeBudgetError: the gas it may burn exceeds the profit
        return SkipReason.BELOW_MIN_PROFIT
    return SkipReason(head) if head in SkipReason._value2member_map_ else None


class LiveExecutor:
    def __init__(
        self,
        cfg: LiqbotConfig,
        chain: ChainConfig,
        client: ChainClient,
        store: Store,
        sender: TxSender,
        metrics: Metrics | None = None,
        session: SessionTally | None = None,
    ) -> None:
        if chain.executor is None:
            raise ValueError(f"chain {chain.name} has no executor address")
        self.cfg, self.chain, self.client, self.store, self.sender = cfg, chain, client, store, sender
        self.mode = cfg.execution.mode
        self.background = True
        self.executor: str = chain.executor
        self.morpho = chain.protocols.morpho_blue.morpho if chain.protocols.morpho_blue.enabled else None
        # The gas bid share per protocol (adaptive); the pipeline points this at its ThresholdController.
        static_share = cfg.thresholds.priority_fee_profit_share
        self.gas_share_for: Callable[[str], Decimal] = lambda _protocol: static_share
        self.risk = RiskGuard(cfg, chain, client, store, metrics or Metrics(), session or SessionTally())

    async def execute(
        self, adapter: ProtocolAdapter, opp: Opportunity, attempt_id: int, facts: MarketFacts | None = None
    ) -> LiveResult:
        """Send one opportunity through the risk gates; once it ended on chain, run the automatic kill-switch
        rules over the chain's sends."""
        try:
            done = await self._execute(adapter, opp, attempt_id, facts)
        finally:
            self.risk.release(attempt_id)
        if done.status != "skipped":
            self.risk.after_attempt(facts, await self.risk.repay_failure(attempt_id))
        return done

    async def _execute(
        self, adapter: ProtocolAdapter, opp: Opportunity, attempt_id: int, facts: MarketFacts | None = None
    ) -> LiveResult:
        switch = killswitch.blocking(self.store, self.chain.name, self.cfg.execution.stop_file)
        if switch is not None:
            return self._skip(attempt_id, f"kill_switch: {switch.scope} engaged ({switch.reason})")
        o = opp.option
        funding = choose_funding(o, self.mode, await self._liquidity(adapter, o.debt_asset))
        if isinstance(funding, Skip):
            return self._skip(attempt_id, f"{funding.reason.value}: {funding.detail}")
        if facts is None or facts.gas.next_base_fee is None or facts.native_price is None:
            return self._skip(attempt_id, f"{SkipReason.GAS_UNKNOWN.value}: no fee market or gas-token price")
        debt_price = facts.prices.get(o.debt_asset.lower())
        if debt_price is None:
            return self._skip(attempt_id, f"{SkipReason.NO_PRICE.value}: {o.debt_asset}")
        refused = self.risk.admit(attempt_id, opp, facts)
        if refused is not None:
            return self._skip(attempt_id, f"{refused.reason.value}: {refused.detail}")
        # The worst-case gas spend is fixed first; minProfit then makes the contract refuse anything less.
        pre_gas_usd = opp.profit.net_usd - opp.profit.gas_usd  # gas_usd is signed: a cost is negative
        budget_wei = int(pre_gas_usd * Decimal(10) ** (18 + 8) / Decimal(facts.native_price.answer))
        bid = fee_bid(
            facts.gas.next_base_fee,
            opp.gas_limit,
            budget_wei,
            self.gas_share_for(adapter.protocol),
            facts.gas.priority_cap,
        )
        worst_gas_usd = (
            Decimal(bid.max_fee_per_gas * opp.gas_limit) * facts.native_price.answer / Decimal(10**26)
        )
        guarded = Opportunity(
            o,
            _with_gas(opp, worst_gas_usd),
            opp.swap_amount_out,
            opp.swap_fee_tier,
            opp.gas_limit,
            bid.max_fee_per_gas,
            bid.max_priority_fee_per_gas,
            opp.flash,
        )
        min_profit = min_profit_units(guarded, debt_price.answer, Decimal(0))
        try:
            data = self._calldata(adapter, opp, funding, min_profit)
        except (KeyError, ValueError) as exc:
            return self._skip(
                attempt_id, f"{SkipReason.NOT_LIQUIDATABLE.value}: cannot build the call ({exc})"
            )
        tx = LiquidationTx(
            to=self.executor,
            data=data,
            gas_limit=opp.gas_limit,
            gas_budget_wei=bid.max_fee_per_gas * opp.gas_limit,
            priority_cap_wei=facts.gas.priority_cap,
            profit_share=self.gas_share_for(adapter.protocol),
            next_base_fee=facts.gas.next_base_fee,
            profit_tokens=(o.debt_asset,),
            profit_account=self.cfg.execution.treasury
            if self.cfg.execution.profit_to_treasury
            else self.executor,
        )
        refused = await self.risk.sequencer(adapter.protocol, o.health_factor)
        if refused is not None:
            return self._skip(attempt_id, f"{refused.reason.value}: at send: {refused.detail}")
        self.risk.sending(attempt_id)
        log.info(
            "sending",
            borrower=o.borrower,
            source=funding.source.value,
            min_profit=min_profit,
            attempt=attempt_id,
        )
        result = await self.sender.send_liquidation(attempt_id, tx)
        return LiveResult(
            attempt_id,
            result.status.value,
            result.attempt.reason,
            skip_of(result.status.value, result.attempt.reason),
        )

    # --- pieces -------------------------------------------------------------------------------------------
    def _skip(self, attempt_id: int, reason: str) -> LiveResult:
        self.store.advance(attempt_id, AttemptStatus.SKIPPED, reason=reason[:500])
        return LiveResult(attempt_id, "skipped", reason, skip_of("skipped", reason))

    async def _liquidity(self, adapter: ProtocolAdapter, token: str) -> Liquidity:
        """One multicall: our inventory, Morpho's balance, and the Aave reserve's idle cash of `token`."""
        bal = fn("MintableERC20", "balanceOf")
        calls = [(token, bal.encode(self.executor))]
        if self.morpho:
            calls.append((token, bal.encode(self.morpho)))
        a_token = None
        if isinstance(adapter, AaveV3Adapter):
            rid = adapter.state.reserve_id(token)
            cfg = adapter.state.reserve_state[rid].configuration if rid is not None else None
            if (
                rid is not None
                and cfg is not None
                and cfg.flash_loan_enabled
                and cfg.active
                and not cfg.paused
            ):
                a_token = adapter.state.reserves[rid].a_token
                calls.append((token, bal.encode(a_token)))
        res = await self.client.multicall(calls)
        vals = [bal.decode_one(d) if ok else None for ok, d in res]
        funds = int(vals[0] or 0)
        morpho = int(vals[1]) if self.morpho and vals[1] is not None else None
        aave = int(vals[-1]) if a_token is not None and vals[-1] is not None else None
        premium = adapter.flash_premium_bps if isinstance(adapter, AaveV3Adapter) else 0
        return Liquidity(funds, morpho, aave, premium)

    def _calldata(
        self, adapter: ProtocolAdapter, opp: Opportunity, funding: Funding, min_profit: int
    ) -> bytes:
        o = opp.option
        c = self.chain.contracts
        if c.uniswap_v3_swap_router is None:
            raise ValueError("no Uniswap V3 router configured")
        kind = RouterKind.SWAP_ROUTER_02 if c.uniswap_v3_swap_router_kind == "02" else RouterKind.SWAP_ROUTER
        swap = SwapLeg(
            c.uniswap_v3_swap_router,
            opp.swap_fee_tier,
            min_amount_out(opp.swap_amount_out, self.cfg.execution.slippage_bps),
            kind=kind,
        )
        amount = o.debt_to_cover * (10_000 + FLASH_BUFFER_BPS) // 10_000 + 1
        target: AaveTarget | MorphoTarget
        if isinstance(adapter, AaveV3Adapter):
            target = AaveTarget(adapter.market_id, o.collateral_asset, o.debt_asset, o.borrower, MAX_UINT)
            lender = {Source.AAVE_FLASH: adapter.market_id, Source.MORPHO_FLASH: self.morpho}.get(
                funding.source
            )
        elif isinstance(adapter, MorphoBlueAdapter):
            p = adapter.state.params[o.market]
            pos = adapter.state.position((o.market, o.borrower))
            seized, shares = (
                (0, pos.borrow_shares)
                if o.collateral_to_liquidator < pos.collateral
                else (o.collateral_to_liquidator, 0)
            )
            market = MorphoMarket(p.loan_token, p.collateral_token, p.oracle, p.irm, p.lltv)
            target = MorphoTarget(adapter.market_id, market, o.borrower, amount, seized, shares)
            lender = self.morpho if funding.source is Source.MORPHO_FLASH else None
        else:
            raise ValueError(f"no executor target for protocol {adapter.protocol}")
        flash = funding.source in (Source.AAVE_FLASH, Source.MORPHO_FLASH)
        cf = ContractFunding(_SOURCES[funding.source], lender or "0x" + "0" * 40, amount if flash else 0)
        return encode_liquidation(target, cf, swap, min_profit, self.cfg.execution.profit_to_treasury)


def _with_gas(opp: Opportunity, cost_usd: Decimal) -> ProfitBreakdown:
    """The breakdown with the gas cost replaced by `cost_usd` (positive), signed like the rest."""
    p = opp.profit
    return ProfitBreakdown(
        p.bonus_usd, p.swap_usd, p.flash_fee_usd, -cost_usd, p.l1_fee_usd, p.net_usd - p.gas_usd - cost_usd
    )


def stop_file_of(cfg: LiqbotConfig) -> Path | None:
    return cfg.execution.stop_file
