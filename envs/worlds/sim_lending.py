"""The Uniswap V3 + lending market on the simulator: N worlds, the batched V3 pool with a lending side
(``LendingMarket``) over the batched lending pool component (Aave V3's ``SimAavePool`` or Morpho Blue's
``SimMorphoBlueMarket``), on the chosen array backend. The lending pool's oracle follows the reference price, and
its clock moves ``dt`` a step; the borrower agent's wallet is the world's ledger's."""

from __future__ import annotations

import numpy as np

from envs.arrays import ArrayBackend
from envs.drivers.base import PriceDriver
from envs.worlds.lending import MORPHO_BLUE, LendingMarket, LendingParams
from envs.worlds.lending_pool import LendingPool
from envs.worlds.morpho_blue_market import SimMorphoBlueMarket
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.sim_aave_pool import SimAavePool


def sim_lending_pool(n: int, params: LendingParams, backend: ArrayBackend) -> LendingPool:
    """The batched lending pool component of ``params.protocol``: accounts for the borrower agent, the scripted
    borrowers and the crowd."""
    accounts = params.borrowers + 2
    if params.protocol == MORPHO_BLUE:
        return SimMorphoBlueMarket(n, params.lltv, params.supply_usd, accounts, backend)
    return SimAavePool(n, params.reserve_params(), params.supply_usd, accounts, backend)


class LendingWorld(UniswapV3World):
    """The simulator's V3 world holding a lending side over the batched lending pool of ``lending.protocol``."""

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
        self.lending = LendingMarket(self, sim_lending_pool(n, lending, self.b), lending)

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        super().reset(rng, agent_usd)
        self.lending.reset(rng)

    def move_reference(self) -> None:
        super().move_reference()
        self.lending.follow()
