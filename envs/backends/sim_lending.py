"""The Uniswap V3 + Aave V3 market on the simulator: N worlds, the batched Aave pool next to the
batched V3 pool. Aave is seeded as the local mainnet seeds it (``supply_usd`` per reserve, at the
2025-03-19 parameters), its oracle follows the reference price, and its clock moves ``dt`` a step.
The V3 pool runs on the chosen array backend; the Aave pool on numpy (its code is array-API
generic, but this world feeds it numpy arrays)."""
from __future__ import annotations

import numpy as np

from envs.backends.arrays import ArrayBackend
from envs.backends.lending import (AGENT, AGENT_ACCOUNT, BASE_UNIT, BORROWER, USDC_UNIT, WETH_UNIT, AaveMarket,
                                   LendingParams, Position)
from envs.backends.sim import UniswapV3World, V3WorldParams
from envs.data import aave_reserve_params
from envs.drivers.base import PriceDriver
from envs.protocols.aave_v3 import pool as aave
from envs.protocols.uniswap_v3 import pool as v3

#: the local mainnet's WBTC price (MarketSpec's default in the chain worlds); unused as collateral here
WBTC_PRICE_USD = 60_000.0
START_TIME = 0.0  # seconds; only differences matter to interest accrual


class AaveWorld(UniswapV3World, AaveMarket):
    def __init__(self, n: int, driver: PriceDriver, params: V3WorldParams = V3WorldParams(),
                 lending: LendingParams = LendingParams(), backend: ArrayBackend | str = "numpy"):
        super().__init__(n, driver, params, backend)
        self.lending = lending
        reserves = aave_reserve_params()
        self.aave_params = aave.aave_params(np, reserves)
        self.symbols = tuple(reserves)
        self.usdc_r, self.weth_r = self.aave_params.index("USDC"), self.aave_params.index("WETH")

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, agent_usd: float = 100_000.0) -> None:
        super().reset(rng, agent_usd)
        start = {"USDC": 1.0, "WBTC": WBTC_PRICE_USD}
        seeded = np.array([[np.floor(self.lending.supply_usd / start.get(s, 1.0) * 10.0 ** d)
                            for s, d in zip(self.symbols, self.aave_params.decimals)]] * self.n)
        weth_decimals = self.aave_params.decimals[self.weth_r]
        seeded[:, self.weth_r] = np.floor(self.lending.supply_usd / self._reference * 10.0 ** weth_decimals)
        self.now = np.full(self.n, START_TIME)
        self.aave = aave.initial_state(np, self.n, 1 + self.lending.borrowers, len(self.symbols), START_TIME)
        self.aave.available_liquidity = seeded.copy()
        self.aave.scaled_atoken_supply = seeded.copy()  # indexes start at 1
        self._prices = np.array([[round(start.get(s, 0.0) * BASE_UNIT) for s in self.symbols]] * self.n, dtype=float)
        self._update_oracle()
        self.borrower_usdc, self.borrower_weth = np.zeros(self.n), np.zeros(self.n)
        self.reset_borrowers(rng)

    def move_reference(self) -> None:
        super().move_reference()
        self.now = self.now + self.dt
        self._update_oracle()

    def _update_oracle(self) -> None:
        self._prices[:, self.weth_r] = np.round(self._reference * BASE_UNIT)

    # --- primitives -------------------------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        return self._prices[:, self.weth_r] / BASE_UNIT

    def borrower_wallet(self):
        return self.borrower_usdc / USDC_UNIT, self.borrower_weth / WETH_UNIT

    def fund_borrower(self, weth_raw):
        self.borrower_weth = self.borrower_weth + weth_raw

    def position(self, account: int) -> Position:
        supplied, debt = aave.balances(self.aave, account, self.now)
        data = aave.account_data(self.aave, self.aave_params, self._prices, account, self.now)
        return Position(supplied[:, self.weth_r], debt[:, self.usdc_r], data.total_collateral_base,
                        data.total_debt_base, data.avg_liquidation_threshold / 1e4, data.avg_ltv / 1e4,
                        data.health_factor)

    def supply(self, account, weth_raw, mask):
        code = aave.supply(self.aave, self.aave_params, account, self.weth_r, np.where(mask, weth_raw, 0.0), self.now,
                           mask)
        if account == AGENT_ACCOUNT:
            self.borrower_weth = self.borrower_weth - np.where(mask & (code == 0), weth_raw, 0.0)
        return code

    def withdraw(self, account, weth_raw, mask):
        got, code = aave.withdraw(self.aave, self.aave_params, self._prices, account, self.weth_r,
                                  np.where(mask, weth_raw, 0.0), self.now, mask)
        if account == AGENT_ACCOUNT:
            self.borrower_weth = self.borrower_weth + got
        return code

    def borrow(self, account, usdc_raw, mask):
        code = aave.borrow(self.aave, self.aave_params, self._prices, account, self.usdc_r,
                           np.where(mask, usdc_raw, 0.0), self.now, mask)
        if account == AGENT_ACCOUNT:
            self.borrower_usdc = self.borrower_usdc + np.where(mask & (code == 0), usdc_raw, 0.0)
        return code

    def repay(self, account, usdc_raw, mask):
        paid, code = aave.repay(self.aave, self.aave_params, account, self.usdc_r, np.where(mask, usdc_raw, 0.0),
                                self.now, mask)
        if account == AGENT_ACCOUNT:
            self.borrower_usdc = self.borrower_usdc - paid
        return paid, code

    def liquidate(self, who, account, mask):
        result = aave.liquidation_call(self.aave, self.aave_params, self._prices, account, self.weth_r, self.usdc_r,
                                       np.full(self.n, np.inf), self.now, mask)
        return result.debt_repaid, result.collateral_to_liquidator, result.error

    def swap(self, who, sell_usdc, raw, mask):
        b, xp = self.b, self.b.xp
        z41 = b.asarray(sell_usdc, dtype=xp.bool)
        result = v3.swap(self.state, self.pool_params, z41, b.asarray(np.where(mask, raw, 0.0)),
                         v3.default_price_limit(z41), b.asarray(mask, dtype=xp.bool))
        paid, got = self._np(result.amount_in), self._np(result.amount_out)
        usdc_out, weth_out = np.where(sell_usdc, paid, -got), np.where(sell_usdc, -got, paid)
        if who == AGENT:  # the other wallets (liquidators, traders) are tracked by their roles
            self.wallet_usdc, self.wallet_weth = self.wallet_usdc - usdc_out, self.wallet_weth - weth_out
        elif who == BORROWER:
            self.borrower_usdc, self.borrower_weth = self.borrower_usdc - usdc_out, self.borrower_weth - weth_out
        return paid, got

    def _fund_scripted_borrower(self, account, weth_raw, mask):
        pass  # the scripted borrowers bring their WETH from outside the market
