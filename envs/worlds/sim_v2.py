"""The Uniswap V2 market on the simulator: N USDC/WETH pairs stepped together (the ``SimUniswapV2Pair``
component) on numpy or torch, seeded as ``build_market`` seeds the local mainnet's pair; the agent's wallet is
kept here. With ``lending``, the world holds a lending side beside the pair, as a V3 world does beside its pool: its
liquidators sell what they seize, and its borrowers lever, through the pair."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from envs.arrays import ArrayBackend, array_backend
from envs.drivers.base import PriceDriver
from envs.units import USDC_UNIT, WETH_UNIT
from envs.worlds.ledger import SimLedger
from envs.worlds.lending import LendingParams
from envs.worlds.lending_protocols import sim_sides
from envs.worlds.reference_path import ReferencePath
from envs.worlds.v2_market import AGENT, UniswapV2Market, V2WorldParams, seed_reserves
from envs.worlds.v2_pair import SimUniswapV2Pair
from envs.worlds.v3_pool_side import sim_pool, v3_pool_beside


class UniswapV2World(UniswapV2Market):
    """N pairs on an array backend; with ``lending``, the batched lending pool of its protocol beside them
    (``envs.worlds.lending_protocols``)."""

    v2_pair: SimUniswapV2Pair

    def __init__(
        self,
        n: int,
        driver: PriceDriver,
        params: V2WorldParams = V2WorldParams(),
        backend: ArrayBackend | str = "numpy",
        lending: LendingParams | Sequence[LendingParams] | None = None,
    ):
        self.n, self.driver, self.params, self.dt = n, driver, params, driver.dt
        self.path = ReferencePath(driver)
        self.b = array_backend(backend) if isinstance(backend, str) else backend
        self.v2_pair = SimUniswapV2Pair(n, self.b)
        beside = v3_pool_beside(self, params.v3_pool_beside(), sim_pool(n, self.b))
        self.components = beside + sim_sides(self, lending, self.b)

    def open_pair(self, rng: np.random.Generator, agent_usd: float) -> None:
        self.rng = rng
        start = self.path.reset(rng, self.n)
        self.v2_pair.reset(*seed_reserves(self.params.pool_value_usd, start))
        self.ledger = SimLedger(self.n)
        self.ledger.open(AGENT, np.floor(agent_usd / 2 * USDC_UNIT), np.floor(agent_usd / 2 / start * WETH_UNIT))
