"""What the live adapter does for each role it can run: read the chain into the role's observation
(the role's own code, as in the env), and turn the policy's action into a plan simulated on a fork.
A pilot returns no plan when the action is to hold."""

from __future__ import annotations

import numpy as np

from agents.live.guards import GuardConfig
from agents.live.market import LiveAaveMarket, LiveUniswapV3Market
from agents.live.planner import Plan, plan_close, plan_leverage, plan_rebalance
from envs.roles.borrower import LTV_TOLERANCE, Borrower
from envs.roles.liquidity_provider import LiquidityProvider, MarketView
from envs.worlds.lending import Position


class LPPilot:
    def __init__(self, role: LiquidityProvider, horizon: int):
        self.role, self.horizon = role, horizon
        self.view: MarketView | None = None

    def observe(self, chain, addresses: dict, account: str, fee_pips: int, dt: float, index: int) -> np.ndarray:
        market = LiveUniswapV3Market(chain, addresses, account, fee_pips, dt)
        elapsed = (index % self.horizon) / self.horizon
        obs = self.role.reset(market, elapsed) if self.view is None else self.role.observe(market, elapsed)
        self.view = self.role.view
        return obs[0]

    def plan(
        self, action, rpc_url: str, addresses: dict, account: str, fee_pips: int, guards: GuardConfig
    ) -> Plan | None:
        assert self.view is not None, "observe before plan"
        acting, widths = self.role.decode(np.asarray(action)[None], 1)
        if not acting[0]:
            return None
        if widths[0] == 0:  # the close action
            return plan_close(rpc_url, addresses, account, fee_pips, guards, float(self.view.reference[0]))
        return plan_rebalance(
            rpc_url, addresses, account, fee_pips, int(widths[0]), guards, float(self.view.reference[0])
        )


class BorrowerPilot:
    def __init__(self, role: Borrower):
        self.role = role
        self.market: LiveAaveMarket | None = None
        self.position: Position | None = None

    def observe(self, chain, addresses: dict, account: str, fee_pips: int, dt: float, index: int) -> np.ndarray:
        first = self.market is None
        self.market = market = LiveAaveMarket(chain, addresses, account, fee_pips, dt)
        obs = self.role.reset(market) if first else self.role.observe(market)
        self.position = self.role.position
        return obs[0]

    def plan(
        self, action, rpc_url: str, addresses: dict, account: str, fee_pips: int, guards: GuardConfig
    ) -> Plan | None:
        assert self.market is not None and self.position is not None, "observe before plan"
        acting, target = self.role.decode(np.asarray(action)[None], 1)
        if not acting[0] or abs(target[0] - self.position.ltv[0]) <= LTV_TOLERANCE:
            return None
        return plan_leverage(
            rpc_url, addresses, account, fee_pips, float(target[0]), guards, float(self.market.reference_price()[0])
        )
