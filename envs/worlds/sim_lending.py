"""The Uniswap V3 + lending market on the simulator: N worlds, the batched lending pool (Aave V3's
``SimAavePool`` or Morpho Blue's ``SimMorphoBlueMarket``) next to the batched V3 pool, on the chosen array
backend. The lending pool's oracle follows the reference price, and its clock moves ``dt`` a step; the borrower
agent's wallet is kept here."""

from __future__ import annotations

import numpy as np

from envs.arrays import ArrayBackend
from envs.drivers.base import PriceDriver
from envs.worlds.lending import BORROWER, MORPHO_BLUE, LendingMarket, LendingParams
from envs.worlds.morpho_blue_market import SimMorphoBlueMarket
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.sim_aave_pool import SimAavePool


class LendingWorld(UniswapV3World, LendingMarket):
    lending_pool: SimAavePool | SimMorphoBlueMarket

    def __init__(
        self,
        n: int,
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        lending: LendingParams = LendingParams(),
        backend: ArrayBackend | str = "numpy",
    ):
        super().__init__(n, driver, params, backend)
        self.lending = lending
        accounts = lending.borrowers + 2  # the agent's, the scripted borrowers', the crowd's
        if lending.protocol == MORPHO_BLUE:
            self.lending_pool = SimMorphoBlueMarket(n, lending.lltv, lending.supply_usd, accounts, self.b)
        else:
            self.lending_pool = SimAavePool(n, lending.reserve_params(), lending.supply_usd, accounts, self.b)

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        super().reset(rng, agent_usd)
        self.lending_pool.reset(self._reference)
        self.ledger.open(BORROWER, 0.0, 0.0)
        self.reset_borrowers(rng)

    def move_reference(self) -> None:
        super().move_reference()
        self.lending_pool.advance(self.dt)
        self.lending_pool.set_oracle_price(self._reference)
