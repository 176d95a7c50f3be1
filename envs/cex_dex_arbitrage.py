"""``defigym/CexDexArbitrage-v0``: arbitrage a Uniswap V3 pool against the reference (CEX) price,
paying the pool fee and gas, racing a competing arbitrageur."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np

from envs.drivers import PriceDriver, episode_driver
from envs.episodes import (
    BatchedVectorEnv,
    CompetedBlock,
    Episodes,
    SingleWorldEnv,
    check_episode,
    driver_options,
)
from envs.roles.arbitrageur import DEFAULT_FRACTIONS, Arbitrageur
from envs.spec import POSITIVE, UNIT, UNIT_OPEN_LOW, EnvSpec, PoolConfig, ranged
from envs.worlds.make import V3_POOL, make_world
from envs.worlds.sim import V3WorldParams

WORLD = V3_POOL  # what its world is made of (its spec's ``world``)


class ArbitrageBlock(CompetedBlock):
    """The arbitrageur's block: a competitor lands its arbitrage first with probability ``compete``, the
    agent trades, the competitor takes what is left, noise traders swap, then the reference moves (and any pool
    beside the world's follows it through its own arbitrageur). An episode opens with a first move, so the first
    observation has a gap to trade. The world has no LP agent."""

    def open(self, market) -> bool:
        market.move_reference()
        market.pools_beside_trade()
        return True

    def competitor(self, market, where: np.ndarray) -> None:
        market.arbitrage(where)

    def after(self, market) -> None:
        market.noise()
        market.recenter()
        self.open(market)


def episodes(
    n: int,
    backend: str = "numpy",
    driver: str | PriceDriver = "gbm",
    driver_kwargs: dict | None = None,
    fee_pips: int = 500,
    horizon: int = 1000,
    compete: float = 0.3,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    action_type: str = "discrete",
    gas_price_gwei: float = 10.0,
    world: dict | None = None,
    device: str | None = None,
    fork_url: str | None = None,
    fork_block: int | None = None,
    addresses: str | None = None,
) -> Episodes:
    """``n`` worlds of this env on ``backend``: its role, its market and its Block, in one episode loop
    (the arguments are the env's: see its class docstring)."""
    check_episode(horizon, compete=compete)
    role = Arbitrageur(tuple(fractions), action_type, gas_price_gwei)
    market = make_world(
        WORLD,
        backend,
        n,
        episode_driver(driver, driver_options(driver, driver_kwargs, BLOCK_GBM), horizon + 1),
        V3WorldParams(fee_pips=fee_pips, **(world or {}), lps=0),  # no LP agent: the arbitrageur trades the pool
        device=device,
        fork_url=fork_url,
        fork_block=fork_block,
        addresses=addresses,
    )
    return Episodes(market, role, ArbitrageBlock(compete), horizon)


_DOC = """
    ## Description
    Each step the reference price has moved and the pool lags it. The agent chooses what share of
    the trade that takes the pool to the edge of its no-trade band (where the fee eats the profit)
    to make. With probability ``compete`` a competing arbitrageur's transaction lands first and
    takes the opportunity; otherwise the competitor trades what the agent left. Then noise traders
    swap and the reference price moves.

    ## Action Space
    ``Discrete(1 + len(fractions))``: 0 skips, ``i`` takes ``fractions[i-1]`` (0.25, 0.5, 0.75, 1)
    of the trade. ``action_type="continuous"``: ``Box(0, 1, (1,))``, the fraction.

    ## Observation Space
    ``Box(-inf, inf, (5,), float32)``: 100 * log(pool / reference price) (%), how far the gap exceeds
    the fee band (%), the last reference log return (%), EWMA volatility (annualized), one swap's
    gas in USD / 10.

    ## Rewards
    Arbitrage profit at the reference price (after the pool fee) minus gas (measured swap gas x
    ``gas_price_gwei`` x ETH price), charged whenever the agent tries, even when beaten.

    ## Episode End
    Termination: none. Truncation: after ``horizon`` steps.

    ## Arguments
    ``backend`` (numpy, torch, evm, anvil), ``driver``/``driver_kwargs`` (default GBM, 12 s steps),
    ``fee_pips`` (500), ``horizon`` (1000), ``compete`` (0.3), ``fractions``, ``action_type``,
    ``gas_price_gwei`` (10), ``world`` (V3WorldParams overrides), ``device``, ``fork_url``,
    ``fork_block``, ``addresses`` (attach mode, as in UniswapV3LP-v0).

    ## Version History
    * v0: initial version.
"""
BLOCK_GBM = {"dt": 12.0, "sigma": 0.8}  # the default driver: an ETH-like GBM in 12-second blocks


class CexDexArbitrageEnv(SingleWorldEnv):
    __doc__ = "CEX-DEX arbitrage, one world on any backend.\n" + _DOC

    episodes = staticmethod(episodes)


class CexDexArbitrageVectorEnv(BatchedVectorEnv):
    __doc__ = "CEX-DEX arbitrage, ``num_envs`` worlds stepped together (numpy or torch).\n" + _DOC

    episodes = staticmethod(episodes)


@dataclass
class CexDexArbitrageConfig(PoolConfig):
    """env=cex_dex_arbitrage: the shares of the trade on offer, and the competition."""

    horizon: int = ranged(1000, POSITIVE)
    compete: float = ranged(0.3, UNIT)  # probability a competitor lands first
    fractions: List[float] = ranged(DEFAULT_FRACTIONS, UNIT_OPEN_LOW)  # trade shares
    action_type: str = "discrete"  # or continuous


def _kwargs(e: CexDexArbitrageConfig) -> dict:
    return dict(
        fee_pips=e.fee_pips, world=e.world(), action_type=e.action_type, compete=e.compete, fractions=tuple(e.fractions)
    )


SPEC = EnvSpec(
    world=WORLD,
    id="defigym/CexDexArbitrage-v0",
    name="cex_dex_arbitrage",
    role="arbitrageur",
    entry_point="envs.cex_dex_arbitrage:CexDexArbitrageEnv",
    vector_entry_point="envs.cex_dex_arbitrage:CexDexArbitrageVectorEnv",
    config=CexDexArbitrageConfig,
    kwargs=_kwargs,
    actions=("0 skips; i > 0 takes fractions[i-1] of the trade", "a[0]: the fraction of the trade to the band's edge"),
    baselines=("greedy_arbitrageur",),
)
