"""``defigym/AaveLeverage-v0``: run a leveraged ETH position on Aave V3 through price moves without
being liquidated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np

from envs.drivers import PriceDriver, episode_driver
from envs.episodes import (
    BatchedVectorEnv,
    Block,
    Episodes,
    SingleWorldEnv,
    check_episode,
    driver_options,
)
from envs.roles.borrower import DEFAULT_TARGETS, Borrower
from envs.spec import POSITIVE, UNIT_OPEN_HIGH, EnvSpec, LendingConfig, ranged
from envs.units import WETH_UNIT
from envs.worlds.lending import AGENT_ACCOUNT, lending_of
from envs.worlds.make import V3_POOL_WITH_LENDING, make_world
from envs.worlds.sim import V3WorldParams

WORLD = V3_POOL_WITH_LENDING  # what its world is made of (its spec's ``world``)


class LeverageBlock(Block):
    """The borrower's block: the agent levers or delevers, then the market's step (its scripted
    liquidator takes any account below a health factor of 1). The agent starts holding ``borrower_usd``
    in WETH, all of it supplied as collateral; the world has no LP agent."""

    def __init__(self, borrower_usd: float):
        super().__init__()
        self.borrower_usd = borrower_usd

    def start(self, market, rng: np.random.Generator) -> None:
        super().start(market, rng)
        lending = lending_of(market)
        lending.fund_borrower(np.floor(self.borrower_usd / market.reference_price() * WETH_UNIT))
        lending.supply(AGENT_ACCOUNT, np.floor(lending.borrower_wallet()[1] * WETH_UNIT), np.ones(market.n, bool))


def episodes(
    n: int,
    backend: str = "numpy",
    driver: str | PriceDriver = "gbm",
    driver_kwargs: dict | None = None,
    horizon: int = 720,
    agent_usd: float = 100_000.0,
    targets: tuple[float, ...] = DEFAULT_TARGETS,
    action_type: str = "discrete",
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
    check_episode(horizon, agent_usd)
    role = Borrower(tuple(targets), action_type, gas_price_gwei)
    market = make_world(
        WORLD,
        backend,
        n,
        episode_driver(driver, driver_options(driver, driver_kwargs), horizon),
        V3WorldParams(**(world or {}), lps=0),  # no LP agent: the borrower trades in the scripted LPs' pool
        lending,
        device=device,
        fork_url=fork_url,
        fork_block=fork_block,
        addresses=addresses,
    )
    return Episodes(market, role, LeverageBlock(agent_usd), horizon)


_DOC = """
    ## Description
    The agent holds ``agent_usd`` of WETH supplied to Aave V3 as collateral, in a market where the
    oracle follows the reference price, scripted borrowers keep their own target LTVs, and a
    scripted liquidator takes any account whose health factor falls below 1 and sells the WETH it
    seizes into the Uniswap V3 pool. Each step (an hour by default) the agent holds or moves toward
    a target LTV: up by borrowing USDC, swapping it to WETH and supplying it; down by withdrawing
    WETH, swapping it to USDC and repaying, each round keeping the health factor above 1.01
    (``ROUNDS`` = 4 rounds a step at most, so deep deleveraging takes time, as without flash loans).

    ## Action Space
    ``Discrete(1 + len(targets))``: 0 holds; ``i`` moves to target LTV ``targets[i-1]`` (default 0,
    0.3, 0.5, 0.65, 0.75: 1x to 4x). ``action_type="continuous"``: ``Box(-1, 1, (2,))``, act if
    ``a[0] > 0`` toward the LTV ``(a[1] + 1) / 2 * max(targets)``.

    ## Observation Space
    ``Box(-inf, inf, (8,), float32)``: health factor (capped at 5), LTV, liquidation threshold,
    100 * log(equity / starting equity), last reference log return (%), EWMA volatility
    (annualized), 100 * log(pool / reference price), one leverage round's gas in USD / 10.

    ## Rewards
    The change in equity (wallet + collateral - debt at the reference price) net of gas (measured
    gas units x ``gas_price_gwei`` x ETH price). Interest, swap fees and price impact, and a
    liquidation's penalty all show up in it. ``info``: ``pnl_usd``, ``gas_usd``, ``equity_usd``,
    ``liquidated``, ``health_factor``.

    ## Episode End
    Termination: none (a position liquidated to nothing sits out the episode). Truncation: after
    ``horizon`` steps.

    ## Arguments
    ``backend`` (numpy, torch, evm, anvil), ``driver``/``driver_kwargs`` (default hourly GBM,
    sigma 0.8), ``horizon`` (720), ``agent_usd`` (100000), ``targets``, ``action_type``,
    ``gas_price_gwei`` (10), ``world`` (V3WorldParams overrides), ``lending`` (LendingParams
    overrides: ``borrowers``, ``borrower_usd``, ``target_ltv``...), ``device``, ``fork_url``,
    ``fork_block``, ``addresses`` (attach mode, as in UniswapV3LP-v0).

    ## Version History
    * v0: initial version.
"""


class AaveLeverageEnv(SingleWorldEnv):
    __doc__ = "A leveraged Aave V3 position, one world on any backend.\n" + _DOC

    episodes = staticmethod(episodes)


class AaveLeverageVectorEnv(BatchedVectorEnv):
    __doc__ = "A leveraged Aave V3 position, ``num_envs`` worlds stepped together (numpy or torch).\n" + _DOC

    episodes = staticmethod(episodes)


@dataclass
class AaveLeverageConfig(LendingConfig):
    """env=aave_leverage: the agent's capital and the target LTVs on offer."""

    agent_usd: float = ranged(100_000.0, POSITIVE)  # the agent's starting capital, in WETH
    targets: List[float] = ranged(DEFAULT_TARGETS, UNIT_OPEN_HIGH)  # target LTVs
    action_type: str = "discrete"  # or continuous


def _kwargs(e: AaveLeverageConfig) -> dict:
    return dict(
        world=e.world() | {"fee_pips": e.fee_pips},
        lending=dict(e.lending),
        agent_usd=e.agent_usd,
        targets=tuple(e.targets),
        action_type=e.action_type,
    )


SPEC = EnvSpec(
    world=WORLD,
    id="defigym/AaveLeverage-v0",
    name="aave_leverage",
    role="borrower",
    entry_point="envs.aave_leverage:AaveLeverageEnv",
    vector_entry_point="envs.aave_leverage:AaveLeverageVectorEnv",
    config=AaveLeverageConfig,
    kwargs=_kwargs,
    capital_account=True,
    actions=(
        "0 holds; i > 0 moves to target LTV targets[i-1]",
        "act if a[0] > 0, toward the LTV (a[1] + 1) / 2 * max(targets)",
    ),
    baselines=("target_ltv_borrower", "hf_keeper"),
)
