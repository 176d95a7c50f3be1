"""``defigym/UniswapV3LP-v0``: manage a concentrated USDC/WETH position against arbitrageurs and noise traders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from envs.drivers import PriceDriver, episode_driver
from envs.episodes import BatchedVectorEnv, Block, Episodes, SingleWorldEnv, check_episode
from envs.roles.liquidity_provider import DEFAULT_HALF_WIDTHS, LiquidityProvider
from envs.roles.role import Receipt
from envs.spec import ATTACH, INIT_FROM, NON_NEGATIVE, POSITIVE, REPLAY_BLOCKS, EnvSpec, PoolConfig, ranged
from envs.worlds.make import V3_POOL, make_world
from envs.worlds.sim import V3WorldParams

WORLD = V3_POOL  # what its world is made of (its spec's ``world``)


class LPBlock(Block):
    """The LP's block: replayed chain transactions that outbid the agent (``backend.replay_blocks``) go
    first, then the agent, then the market's step. Episodes may start with a position open."""

    def __init__(self, agent_usd: float, initial_half_width: int | None):
        super().__init__(agent_usd)
        self.initial_half_width = initial_half_width

    def start(self, market, rng: np.random.Generator) -> None:
        market.reset(rng, self.agent_usd)
        if self.initial_half_width:
            market.rebalance(np.full(market.n, self.initial_half_width), np.ones(market.n, bool))

    def run(self, market, role, action, rng: np.random.Generator) -> Receipt:
        before_agent = getattr(market, "before_agent_acts", None)  # replayed blocks: who outbid the agent
        if before_agent is not None:
            before_agent()
        return super().run(market, role, action, rng)


def episodes(
    n: int,
    backend: str = "numpy",
    driver: str | PriceDriver = "gbm",
    driver_kwargs: dict | None = None,
    fee_pips: int = 500,
    horizon: int = 720,
    agent_usd: float = 100_000.0,
    initial_half_width: int | None = None,
    half_widths: tuple[int, ...] = DEFAULT_HALF_WIDTHS,
    action_type: str = "discrete",
    reward: str = "pnl",
    gas_price_gwei: float = 10.0,
    gas_usd_per_rebalance: float | None = None,
    allow_close: bool = False,
    world: dict | None = None,
    device: str | None = None,
    fork_url: str | None = None,
    fork_block: int | None = None,
    addresses: str | None = None,
    init_from: str | None = None,
    init_addresses: str = "ethereum",
    replay_blocks: int = 0,
    priority_fee_gwei: float | None = None,
) -> Episodes:
    """``n`` worlds of this env on ``backend``: its role, its market and its Block, in one episode loop
    (the arguments are the env's: see its class docstring)."""
    check_episode(horizon, agent_usd)
    role = LiquidityProvider(
        tuple(half_widths), action_type, reward, gas_price_gwei, gas_usd_per_rebalance, allow_close=allow_close
    )
    market = make_world(
        WORLD,
        backend,
        n,
        episode_driver(driver, driver_kwargs, horizon),
        V3WorldParams(fee_pips=fee_pips, **(world or {})),
        device=device,
        fork_url=fork_url,
        fork_block=fork_block,
        addresses=addresses,
        init_from=init_from,
        init_addresses=init_addresses,
        replay_blocks=replay_blocks,
        priority_fee_gwei=priority_fee_gwei,
        horizon=horizon,
    )
    return Episodes(market, role, LPBlock(agent_usd, initial_half_width), horizon)


_DOC = """
    ## Description
    The agent owns one concentrated-liquidity position in a Uniswap V3 USDC/WETH pool (fee tier
    ``fee_pips``). Each step (``dt`` seconds of the price driver) it may hold, or close the position,
    swap its tokens to the new range's ratio and re-open a range centred on the current tick. Then
    the reference (CEX) price moves, an arbitrageur trades the pool to the edge of its no-trade band,
    and noise traders swap; the position earns fees and suffers adverse selection (LVR).

    ## Action Space
    ``Discrete(1 + len(half_widths))``: 0 holds; ``i`` re-centres with half-width ``half_widths[i-1]``;
    with ``allow_close=True`` one more action, the last, withdraws the position to the wallet
    ticks (default 50, 100, 200, 400, 800, 1600, 3200, and 887272: the full range). With ``action_type="continuous"``:
    ``Box(-1, 1, (2,))``, re-centre if ``a[0] > 0`` at a half-width log-spaced between the extremes by ``a[1]``.

    ## Observation Space
    ``Box(-inf, inf, (9,), float32)``:

    | Num | Observation | Unit |
    |-----|-------------|------|
    | 0 | 100 * log(pool price / reference price) | % |
    | 1 | (tick - lower) / (upper - lower); 0.5 without a position | 1 |
    | 2 | half-width of the range / 1000 | kiloticks |
    | 3 | 1 if the current tick is inside the range | flag |
    | 4 | 100 * log return of the reference price over the last step | % |
    | 5 | EWMA realized volatility, annualized | 1 |
    | 6 | uncollected fees / portfolio value | bps |
    | 7 | share of the portfolio in WETH | 1 |
    | 8 | share of the episode elapsed | 1 |

    ## Rewards
    ``reward="pnl"`` (default): change in portfolio value (wallet + position + uncollected fees at
    the reference price, USDC at $1) minus gas in USD (measured gas units x ``gas_price_gwei`` x ETH
    price). ``reward="fees_minus_lvr"``: fees earned - realized LVR (|V''(p)| dp^2 / 2 of the
    position held over the step) - gas. ``info`` carries ``pnl_usd``, ``fees_usd``, ``lvr_usd``,
    ``gas_usd`` and ``value_usd`` either way.

    ## Starting State
    The pool holds $20M in five ranges around the driver's start price (as ``build_market`` mints
    them); the agent holds ``agent_usd`` half in USDC, half in WETH, and a position of
    ``initial_half_width`` ticks when that is set.

    ## Episode End
    Termination: none (an LP cannot become insolvent). Truncation: after ``horizon`` steps.

    ## Arguments
    ``backend`` ("numpy", "torch", "evm", "anvil"), ``driver`` ("gbm", "jump_diffusion",
    "regime_switching", "historical", or a PriceDriver) and ``driver_kwargs``, ``fee_pips`` (500),
    ``horizon`` (720 steps), ``agent_usd`` (100000), ``initial_half_width`` (None), ``half_widths``, ``allow_close``,
    ``action_type``, ``reward``, ``gas_price_gwei`` (10), ``world`` (V3WorldParams overrides:
    ``noise_traders``, ``noise_trade_usd``, ``pool_value_usd``), ``device`` (torch), ``fork_url``
    (evm/anvil: fork this RPC URL instead of a fresh chain), ``fork_block`` (the block to fork; the
    head when None), ``addresses`` (evm/anvil with ``fork_url``: an address book's name, e.g.
    "ethereum", or the path of an addresses.json; the env then runs on the market the fork holds,
    deploying nothing), ``init_from`` (numpy/torch: ``URL@block``, every world starts from the
    ``init_addresses`` book's pool as that chain held it at that block; the price path is rescaled
    to start at the pool's price), ``replay_blocks`` (evm/anvil with ``fork_url``: each step first
    re-sends the forked chain's own transactions of its next blocks, after the agent's),
    ``priority_fee_gwei`` (with ``replay_blocks``: the agent's tip; transactions of the step's first
    block that paid more go before the agent's).

    ## Version History
    * v0: initial version.
"""


class UniswapV3LPEnv(SingleWorldEnv):
    __doc__ = (
        "Uniswap V3 liquidity provision, one world on any backend.\n"
        + _DOC
        + """
    >>> import gymnasium as gym, envs
    >>> env = gym.make("defigym/UniswapV3LP-v0", horizon=24)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    (9,)
    """
    )

    episodes = staticmethod(episodes)


class UniswapV3LPVectorEnv(BatchedVectorEnv):
    __doc__ = "Uniswap V3 liquidity provision, ``num_envs`` worlds stepped together (numpy or torch).\n" + _DOC

    episodes = staticmethod(episodes)


@dataclass
class UniswapV3LPConfig(PoolConfig):
    """env=uniswap_v3_lp: the LP's capital, its ranges and its reward."""

    agent_usd: float = ranged(100_000.0, POSITIVE)  # the agent's starting capital, half USDC half WETH
    initial_half_width: Optional[int] = ranged(None, POSITIVE)  # start with a position this wide (ticks), or none
    half_widths: List[int] = ranged(DEFAULT_HALF_WIDTHS, POSITIVE)  # discrete widths
    action_type: str = "discrete"  # or continuous
    reward: str = "fees_minus_lvr"  # fee - LVR - gas (Xu & Brini 2025), or pnl
    #: a fixed cost per reposition (e.g. 5.0) instead of measured gas
    gas_usd_per_rebalance: Optional[float] = ranged(None, NON_NEGATIVE)
    allow_close: bool = False  # one more discrete action that withdraws the position


def _kwargs(e: UniswapV3LPConfig) -> dict:
    return dict(
        fee_pips=e.fee_pips,
        world=e.world(),
        action_type=e.action_type,
        agent_usd=e.agent_usd,
        initial_half_width=e.initial_half_width,
        half_widths=tuple(e.half_widths),
        reward=e.reward,
        gas_usd_per_rebalance=e.gas_usd_per_rebalance,
        allow_close=e.allow_close,
    )


SPEC = EnvSpec(
    world=WORLD,
    id="defigym/UniswapV3LP-v0",
    name="uniswap_v3_lp",
    role="liquidity_provider",
    entry_point="envs.uniswap_v3_lp:UniswapV3LPEnv",
    vector_entry_point="envs.uniswap_v3_lp:UniswapV3LPVectorEnv",
    config=UniswapV3LPConfig,
    kwargs=_kwargs,
    scoring="lp",
    chain_features=(ATTACH, INIT_FROM, REPLAY_BLOCKS),
    actions=(
        "0 holds; i > 0 re-centres at half_widths[i-1] ticks; with allow_close, the last action closes",
        "re-centre if a[0] > 0, at a half-width log-spaced between the extremes of half_widths by a[1]",
    ),
    baselines=("hodl", "passive_lp", "recentering_lp", "tau_reset_lp"),
)
