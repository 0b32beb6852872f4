"""The shadow executor: record the decision, simulate the protocol's liquidation call with eth_call (state
overrides stand in for inventory), and end the attempt as `shadowed` — never send anything."""

from __future__ import annotations

from dataclasses import dataclass

from liqbot.chain.client import ChainClient
from liqbot.chain.simulate import SimulationError, TokenSlots, simulate
from liqbot.core.types import Opportunity, SkipReason
from liqbot.protocols.base import ProtocolAdapter
from liqbot.store import AttemptStatus, Store

# A fixed, keyless address plays the liquidator in simulations (it never signs anything).
SIM_SENDER = "0x000000000000000000000000000000000051A7ED"


@dataclass
class ShadowResult:
    attempt_id: int
    simulated: bool
    reason: str | None

    @property
    def status(self) -> str:
        return "shadowed" if self.simulated else "skipped"


class ShadowExecutor:
    mode = "shadow"
    background = False  # simulations are quick: decisions are final when the block is done

    def __init__(self, client: ChainClient, store: Store) -> None:
        self.client, self.store = client, store
        self.slots = TokenSlots(client)

    async def execute(
        self, adapter: ProtocolAdapter, opp: Opportunity, attempt_id: int, facts: object = None
    ) -> ShadowResult:
        o = opp.option
        to, data = adapter.liquidation_call(o, SIM_SENDER)
        try:
            overrides = await self.slots.funded(o.debt_asset, SIM_SENDER, to, o.debt_to_cover * 2)
            await simulate(self.client, to, data, SIM_SENDER, overrides)
        except SimulationError as exc:
            reason = f"{SkipReason.SIMULATION_FAILED.value}: {exc.reason}"
            self.store.advance(attempt_id, AttemptStatus.SKIPPED, reason=reason)
            return ShadowResult(attempt_id, False, reason)
        self.store.advance(attempt_id, AttemptStatus.SIMULATED, sender=SIM_SENDER)
        self.store.advance(attempt_id, AttemptStatus.SHADOWED)
        return ShadowResult(attempt_id, True, None)
