"""``defigym/UniswapV2LP-v0``: hold a share of capital as Uniswap V2 USDC/WETH pair shares, against
arbitrageurs and noise traders, and with ``lending``, the liquidations and leverage of a lending market beside the
pair."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

from envs.drivers import PriceDriver, episode_driver
from envs.episodes import (
    BatchedVectorEnv,
    Block,
    Episodes,
    SingleWorldEnv,
    check_episode,
    driver_options,
)
from envs.roles.v2_liquidity_provider import DEFAULT_SHARES, V2LiquidityProvider
from envs.spec import NON_NEGATIVE, POSITIVE, UNIT, EnvConfig, EnvSpec, ranged
from envs.worlds.lending import NO_LENDING
from envs.worlds.make import OPTIONAL_LENDING, UNISWAP_V2, WorldRecipe, make_world
from envs.worlds.v2_market import V2WorldParams

WORLD = WorldRecipe(UNISWAP_V2, OPTIONAL_LENDING)  # what its world is made of (its spec's ``world``)


def episodes(
    n: int,
    backend: str = "numpy",
    driver: str | PriceDriver = "gbm",
    driver_kwargs: dict | None = None,
    horizon: int = 720,
    agent_usd: float = 100_000.0,
    shares: tuple[float, ...] = DEFAULT_SHARES,
    action_type: str = "discrete",
    gas_price_gwei: float = 10.0,
    world: dict | None = None,
    device: str | None = None,
    fork_url: str | None = None,
    fork_block: int | None = None,
    addresses: str | None = None,
    lending: dict | None = None,
) -> Episodes:
    """``n`` worlds of this env on ``backend``: its role, its market and the default Block (the agent moves
    its share, then the pair's market steps), in one episode loop (the arguments: see the class docstring)."""
    check_episode(horizon, agent_usd)
    role = V2LiquidityProvider(tuple(shares), action_type, gas_price_gwei)
    market = make_world(
        WORLD,
        backend,
        n,
        episode_driver(driver, driver_options(driver, driver_kwargs), horizon),
        V2WorldParams(**(world or {})),
        lending,
        device=device,
        fork_url=fork_url,
        fork_block=fork_block,
        addresses=addresses,
    )
    return Episodes(market, role, Block(agent_usd), horizon)


_DOC = """
    ## Description
    The agent holds ``agent_usd`` half in USDC, half in WETH, next to a Uniswap V2 USDC/WETH pair
    (0.3% fee) of ``pool_value_usd``. Each step (an hour by default) it holds, or moves the share of
    its portfolio held as pair shares toward a target: adding swaps its wallet to the pair's ratio and
    deposits through Router02, removing redeems shares. Then the reference price moves, an
    arbitrageur trades the pair to the edge of its no-trade band, and noise traders swap. With ``lending``, a
    lending market (Aave V3 by default, or Morpho Blue) runs beside the pair, its oracle following the reference:
    its scripted liquidator sells what it seizes into the pair, and its borrowers re-lever, after the pair's flow.

    ## Action Space
    ``Discrete(1 + len(shares))``: 0 holds; ``i`` moves to ``shares[i-1]`` (0, 25, 50, 75, 100%) of
    the portfolio in the pair. ``action_type="continuous"``: ``Box(-1, 1, (2,))``, act if ``a[0] > 0``
    toward the share ``(a[1] + 1) / 2``.

    ## Observation Space
    ``Box(-inf, inf, (6,), float32)``: 100 * log(pair / reference price), share in the pair, WETH
    share (pair looked through), last reference log return (%), EWMA volatility (annualized), a
    swap and a deposit's gas in USD / 10.

    ## Rewards
    The change in portfolio value (wallet plus what the shares redeem for, at the reference price)
    net of gas (measured gas units x ``gas_price_gwei`` x ETH price). ``info``: ``pnl_usd``,
    ``gas_usd``, ``value_usd``, ``in_pair_usd``.

    ## Episode End
    Termination: none. Truncation: after ``horizon`` steps.

    ## Arguments
    ``backend`` (numpy, torch, evm, anvil), ``driver``/``driver_kwargs`` (default hourly GBM, sigma 0.8),
    ``horizon`` (720), ``agent_usd`` (100000), ``shares``, ``action_type``, ``gas_price_gwei`` (10),
    ``world`` (V2WorldParams overrides: ``pool_value_usd``, ``noise_traders``, ``noise_trade_usd``),
    ``device`` (torch), ``fork_url``, ``fork_block``, ``addresses`` (attach mode, as in UniswapV3LP-v0),
    ``lending`` (None or ``{"protocol": "none"}``: no lending market; else LendingParams overrides, ``{}`` for
    the defaults).

    ## Version History
    * v0: initial version.
"""


class UniswapV2LPEnv(SingleWorldEnv):
    __doc__ = "Uniswap V2 liquidity provision, one world on any backend.\n" + _DOC

    episodes = staticmethod(episodes)


class UniswapV2LPVectorEnv(BatchedVectorEnv):
    __doc__ = "Uniswap V2 liquidity provision, ``num_envs`` worlds stepped together (numpy or torch).\n" + _DOC

    episodes = staticmethod(episodes)


@dataclass
class UniswapV2LPConfig(EnvConfig):
    """env=uniswap_v2_lp: the agent's capital, the pair shares on offer, the pair's toy flow."""

    agent_usd: float = ranged(100_000.0, POSITIVE)  # the agent's starting capital, half USDC half WETH
    shares: List[float] = ranged(DEFAULT_SHARES, UNIT)  # shares of capital in the pair
    action_type: str = "discrete"  # or continuous
    flow: str = "toy"  # the pair draws the toy flow only (the calibrated flow is fitted to a V3 pool)
    noise_traders: int = ranged(2, NON_NEGATIVE)  # noise swaps per step
    noise_trade_usd: float = ranged(5_000.0, NON_NEGATIVE)  # median noise swap
    pool_value_usd: float = ranged(10_000_000.0, POSITIVE)  # the pair's liquidity
    #: a Uniswap V3 USDC/WETH pool of this value beside the pair (0: none), at fee tier v3_pool_beside_fee_pips,
    #: traded by its own arbitrageur and noise_traders toy swaps each block: a second venue on the same price
    v3_pool_beside_usd: float = ranged(0.0, NON_NEGATIVE)
    v3_pool_beside_fee_pips: int = 500  # its tier: 100, 500, 3000 or 10000
    #: a lending market beside the pair, trading through it, where ``protocol`` names one (none: no market;
    #: aave_v3, or morpho_blue with calibration: none), with any LendingParams key beside it
    lending: Dict[str, Any] = field(default_factory=lambda: {"protocol": NO_LENDING})


def _kwargs(e: UniswapV2LPConfig) -> dict:
    if e.flow != "toy":
        raise ValueError(
            f"env.flow={e.flow}: the V2 LP env draws the toy flow only (the calibrated flow is "
            f"fitted to a V3 pool's liquidity); set env.flow=toy"
        )
    return dict(
        agent_usd=e.agent_usd,
        shares=tuple(e.shares),
        action_type=e.action_type,
        lending=dict(e.lending),
        world={
            "pool_value_usd": e.pool_value_usd,
            "noise_traders": e.noise_traders,
            "noise_trade_usd": e.noise_trade_usd,
            "v3_pool_beside_usd": e.v3_pool_beside_usd,
            "v3_pool_beside_fee_pips": e.v3_pool_beside_fee_pips,
        },
    )


SPEC = EnvSpec(
    world=WORLD,
    id="defigym/UniswapV2LP-v0",
    name="uniswap_v2_lp",
    role="v2_liquidity_provider",
    entry_point="envs.uniswap_v2_lp:UniswapV2LPEnv",
    vector_entry_point="envs.uniswap_v2_lp:UniswapV2LPVectorEnv",
    config=UniswapV2LPConfig,
    kwargs=_kwargs,
    capital_account=True,
    actions=(
        "0 holds; i > 0 moves to shares[i-1] of the portfolio in the pair",
        "act if a[0] > 0, toward the share (a[1] + 1) / 2 in the pair",
    ),
    baselines=("passive_v2_lp", "hodl_v2"),
)
