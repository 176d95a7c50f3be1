"""``defigym/AaveLiquidator-v0``: find and liquidate unhealthy Aave V3 accounts against a competing
liquidator, selling the seized collateral through the pool."""

from __future__ import annotations

from dataclasses import dataclass

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
from envs.roles.liquidator import Liquidator
from envs.spec import POSITIVE, UNIT, EnvSpec, LendingConfig, ranged
from envs.worlds.lending import COMPETITOR, lending_of
from envs.worlds.make import UNISWAP_V3, WITH_LENDING, WorldRecipe, make_world
from envs.worlds.sim import V3WorldParams

#: what its world is made of (its spec's ``world``): its scripted borrowers live near the edge
WORLD = WorldRecipe(UNISWAP_V3, WITH_LENDING, lending_defaults={"borrowers": 8, "target_ltv": (0.74, 0.80)})


class LiquidationBlock(CompetedBlock):
    """The liquidator's block: a competitor liquidates first with probability ``compete``, the agent
    liquidates what its action picks, the competitor takes what is left; then the market moves
    (reference, arbitrage, noise, any pool beside the world's, borrowers) and the liquidations are left to the next block. An
    episode opens with such a move, so the first observation shows accounts to take. The world has no
    LP agent."""

    def open(self, market) -> bool:
        market.move_reference()
        market.pool_flows()
        market.pools_beside_trade()
        lending_of(market).borrowers_act()
        return True

    def competitor(self, market, where: np.ndarray) -> None:
        lending_of(market).liquidate_unhealthy(COMPETITOR, where)

    def after(self, market) -> None:
        self.open(market)


def episodes(
    n: int,
    backend: str = "numpy",
    driver: str | PriceDriver = "gbm",
    driver_kwargs: dict | None = None,
    horizon: int = 720,
    compete: float = 0.3,
    slots: int = 4,
    gas_price_gwei: float = 10.0,
    world: dict | None = None,
    lending: dict | None = None,
    device: str | None = None,
    fork_url: str | None = None,
    fork_block: int | None = None,
    addresses: str | None = None,
) -> Episodes:
    """``n`` worlds of this env on ``backend``: its role, its market and its Block, in one episode loop
    (the arguments are the env's: see its class docstring)."""
    check_episode(horizon, compete=compete)
    side = WORLD.lending_side(lending)
    if side is None or side.borrowers < 1:
        raise ValueError("the liquidator needs at least one scripted borrower (lending.borrowers >= 1)")
    role = Liquidator(slots, gas_price_gwei)
    market = make_world(
        WORLD,
        backend,
        n,
        episode_driver(driver, driver_options(driver, driver_kwargs), horizon + 1),
        V3WorldParams(**(world or {}), lps=0),  # no LP agent: the liquidator sells into the scripted LPs' pool
        lending,
        device=device,
        fork_url=fork_url,
        fork_block=fork_block,
        addresses=addresses,
    )
    return Episodes(market, role, LiquidationBlock(compete), horizon)


_DOC = """
    ## Description
    Scripted borrowers supply WETH to Aave V3 and borrow USDC near their maximum LTV (targets drawn
    from ``lending.target_ltv``, re-levered as prices rise); the oracle follows the reference price.
    Each step the agent sees the ``slots`` most attractive unhealthy accounts (health factor below 1)
    and liquidates one of them or waits: it repays as much USDC debt as the close factor allows (50%,
    or 100% below a health factor of 0.95), receives WETH worth the debt plus the bonus, and sells
    it into the Uniswap V3 pool. With probability ``compete`` a competing liquidator's transactions
    land first and take every liquidatable account; otherwise it takes what the agent left.

    ## Action Space
    ``Discrete(1 + slots)``: 0 waits; ``i`` liquidates the account in slot ``i`` (an empty slot does nothing).

    ## Observation Space
    ``Box(-inf, inf, (4 * slots + 4,), float32)``: per slot, best first (by bonus): liquidatable
    flag, 100 * (1 - health factor), debt the close factor lets it cover (USD / 10,000), bonus on it
    after the protocol's fee (USD / 100); then 100 * log(pool / reference price), the last
    reference log return (%), EWMA volatility (annualized), and a liquidation's gas in USD / 10.

    ## Rewards
    USDC received for the collateral minus USDC repaid, net of gas (measured liquidationCall and
    swap gas x ``gas_price_gwei`` x ETH price), which an attempt pays even when it was beaten.

    ## Episode End
    Termination: none. Truncation: after ``horizon`` steps.

    ## Arguments
    ``backend`` (numpy, torch, evm, anvil), ``driver``/``driver_kwargs`` (default hourly GBM, sigma
    0.8), ``horizon`` (720), ``compete`` (0.3), ``slots`` (4), ``gas_price_gwei`` (10), ``world``
    (V3WorldParams overrides), ``lending`` (LendingParams overrides; default 8 borrowers at target
    LTVs in [0.74, 0.80]), ``device``, ``fork_url``,
    ``fork_block``, ``addresses`` (attach mode, as in UniswapV3LP-v0).

    ## Version History
    * v0: initial version.
"""


class AaveLiquidatorEnv(SingleWorldEnv):
    __doc__ = "Aave V3 liquidations, one world on any backend.\n" + _DOC

    episodes = staticmethod(episodes)


class AaveLiquidatorVectorEnv(BatchedVectorEnv):
    __doc__ = "Aave V3 liquidations, ``num_envs`` worlds stepped together (numpy or torch).\n" + _DOC

    episodes = staticmethod(episodes)


@dataclass
class AaveLiquidatorConfig(LendingConfig):
    """env=aave_liquidator: the accounts shown, and the competition."""

    compete: float = ranged(0.3, UNIT)  # probability a competitor lands first
    slots: int = ranged(4, POSITIVE)  # unhealthy accounts shown


def _kwargs(e: AaveLiquidatorConfig) -> dict:
    return dict(world=e.world() | {"fee_pips": e.fee_pips}, lending=dict(e.lending), compete=e.compete, slots=e.slots)


SPEC = EnvSpec(
    world=WORLD,
    id="defigym/AaveLiquidator-v0",
    name="aave_liquidator",
    role="liquidator",
    entry_point="envs.aave_liquidator:AaveLiquidatorEnv",
    vector_entry_point="envs.aave_liquidator:AaveLiquidatorVectorEnv",
    config=AaveLiquidatorConfig,
    kwargs=_kwargs,
    actions=("0 waits; i > 0 liquidates the account in slot i", None),
    baselines=("greedy_liquidator",),
)
