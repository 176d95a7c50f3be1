"""The Uniswap V3 + lending market on the simulator: N worlds, the batched V3 pool with a lending side
(``LendingMarket``) over the batched lending pool component (Aave V3's ``SimAavePool`` or Morpho Blue's
``SimMorphoBlueMarket``), on the chosen array backend. The lending pool's oracle follows the reference price, and
its clock moves ``dt`` a step; the borrower agent's wallet is the world's ledger's."""

from __future__ import annotations

import numpy as np

from envs.arrays import ArrayBackend
from envs.drivers.base import PriceDriver
from envs.worlds.lending import BORROWER, MORPHO_BLUE, LendingMarket, LendingParams
from envs.worlds.morpho_blue_market import SimMorphoBlueMarket
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.sim_aave_pool import SimAavePool


def sim_lending_pool(n: int, params: LendingParams, backend: ArrayBackend) -> SimAavePool | SimMorphoBlueMarket:
    """The batched lending pool component of ``params.protocol``: accounts for the borrower agent, the scripted
    borrowers and the crowd."""
    accounts = params.borrowers + 2
    if params.protocol == MORPHO_BLUE:
        return SimMorphoBlueMarket(n, params.lltv, params.supply_usd, accounts, backend)
    return SimAavePool(n, params.reserve_params(), params.supply_usd, accounts, backend)


class LendingWorld(UniswapV3World):
    lending: LendingMarket

    def __init__(
        self,
        n: int,
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        lending: LendingParams = LendingParams(),
        backend: ArrayBackend | str = "numpy",
    ):
        super().__init__(n, driver, params, backend)
        self._pool = sim_lending_pool(n, lending, self.b)  # its clock and start, which only a simulator sets
        self.lending = LendingMarket(self, self._pool, lending)

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        super().reset(rng, agent_usd)
        self._pool.reset(self._reference)
        self.ledger.open(BORROWER, 0.0, 0.0)
        self.lending.reset(rng)

    def move_reference(self) -> None:
        super().move_reference()
        self._pool.advance(self.dt)
        self._pool.set_oracle_price(self._reference)
