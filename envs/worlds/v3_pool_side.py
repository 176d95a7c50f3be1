"""A Uniswap V3 USDC/WETH pool a world holds beside its own pool (``V3WorldParams.v3_pool_beside_usd`` at another fee
tier than the world's, ``V2WorldParams.v3_pool_beside_usd`` beside a V2 pair): a second venue on the same reference
price, a component like the V2 pair beside a pool (``envs.worlds.v2_pair_side``). It starts with its value laid over a
liquidity profile around the start price (on a chain, the built market minted it), and each block, after the world's
pool, its own arbitrageur trades it to the edge of its no-trade band and the toy noise swaps trade it, as a V3 world's
arbitrageur and toy flow trade the world's pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from envs.arrays import ArrayBackend
from envs.contracts.market import Market
from envs.liquidity_profile import DEFAULT_LIQUIDITY_PROFILE, LiquidityProfile
from envs.protocols.uniswap_v3 import pool as v3
from envs.units import TICK_SPACING
from envs.worlds.ledger import Ledger
from envs.worlds.market import ARBITRAGEUR_WALLET, FLOW_WALLET, band_target
from envs.worlds.toy_flow import ToyFlowParams, noise_orders
from envs.worlds.v3_pool import ChainUniswapV3Pool, SimUniswapV3Pool, UniswapV3Pool, Wallet
from envs.worlds.world import World


@dataclass(frozen=True)
class V3PoolBeside:
    """The pool beside a world's own: its fee tier, its value laid over ``liquidity_profile`` at the start, and the
    toy noise swaps that trade it each block."""

    fee_pips: int
    pool_value_usd: float
    liquidity_profile: LiquidityProfile = DEFAULT_LIQUIDITY_PROFILE
    noise_traders: int = 2
    noise_trade_usd: float = 5_000.0

    def __post_init__(self):
        if self.fee_pips not in TICK_SPACING:
            raise ValueError(
                f"v3_pool_beside_fee_pips={self.fee_pips} is not a fee tier; use one of {sorted(TICK_SPACING)}"
            )
        if self.pool_value_usd <= 0:
            raise ValueError(f"v3_pool_beside_usd={self.pool_value_usd} must be positive for a pool beside")


def pool_beside_params(value_usd: float, fee_pips: int, flow: ToyFlowParams) -> V3PoolBeside | None:
    """The V3 pool a world's parameters put beside its pool (``v3_pool_beside_usd``, ``v3_pool_beside_fee_pips``),
    traded by the world's toy noise traders; None for a value of 0, a negative one refused."""
    if value_usd < 0:
        raise ValueError(f"v3_pool_beside_usd={value_usd} must be non-negative (0: no V3 pool beside the world's own)")
    if value_usd == 0:
        return None
    return V3PoolBeside(fee_pips, value_usd, noise_traders=flow.noise_traders, noise_trade_usd=flow.noise_trade_usd)


def v3_pool_beside(
    world: World, params: V3PoolBeside | None, pool: Callable[[V3PoolBeside], UniswapV3Pool]
) -> tuple[UniswapV3PoolSide, ...]:
    """The V3 pool a world holds beside its own, over the backend's ``pool(params)``; none where ``params`` is None."""
    return () if params is None else (UniswapV3PoolSide(world, pool(params), params),)


def sim_pool(n: int, backend: ArrayBackend) -> Callable[[V3PoolBeside], SimUniswapV3Pool]:
    """A batched pool of the tier beside (one position slot, unused: nobody provides liquidity there but its
    profile)."""
    return lambda params: SimUniswapV3Pool(n, backend, v3.V3PoolParams(fee_pips=params.fee_pips, max_positions=1))


def chain_pool(market: Market, address: Callable[..., str]) -> Callable[[V3PoolBeside], ChainUniswapV3Pool]:
    """The pool of the tier beside on ``market`` (the built market minted it), traded from ``address(wallet)``."""
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    return lambda params: ChainUniswapV3Pool(
        market.v3, market.v3_pools[params.fee_pips], usdc, weth, params.fee_pips, address
    )


def swap(
    pool: UniswapV3Pool,
    ledger: Ledger,
    wallet: Wallet,
    sell_usdc: np.ndarray,
    raw: np.ndarray,
    limit: np.ndarray | None,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """An exact-input swap on ``pool`` from ``wallet`` up to ``limit``, booked to it in ``ledger``; (paid, got)."""
    paid, got = pool.swap(wallet, sell_usdc, raw, limit, mask)
    ledger.moved(wallet, np.where(sell_usdc, -paid, got), np.where(sell_usdc, got, -paid))
    return paid, got


class UniswapV3PoolSide:
    """``pool`` (the simulator's or a chain's) held by ``world``, of ``params.pool_value_usd`` at the start, traded by
    its arbitrageur and ``params``' noise traders from the world's named wallets."""

    lends = False  # a venue, not a lending side
    SWAP_GAS = "v3_swap"  # a swap through it (``envs.assets.gas``)

    def __init__(self, world: World, pool: UniswapV3Pool, params: V3PoolBeside):
        self.world, self.pool, self.params = world, pool, params

    def reset(self, rng: np.random.Generator) -> None:
        """A batched pool starts laid at the world's start price; a chain's was minted with the market."""
        if isinstance(self.pool, SimUniswapV3Pool):
            self.pool.seed(self.world.reference_price(), self.params.pool_value_usd, self.params.liquidity_profile)

    def follow(self) -> None:
        """Nothing: the pool follows the reference through its arbitrageur, when it trades (``step``)."""

    def step(self) -> None:
        """The block's trades on the pool, after the world's own: the arbitrage to its band's edge, the noise swaps."""
        world, pool = self.world, self.pool
        reference = world.reference_price()
        sell_usdc, target, moving = band_target(pool, reference, self.params.fee_pips)
        swap(pool, world.ledger, ARBITRAGEUR_WALLET, sell_usdc, np.where(moving, np.inf, 0.0), target, moving)
        for sell_usdc, raw in noise_orders(world.rng, world.n, self.params, reference):
            swap(pool, world.ledger, FLOW_WALLET, sell_usdc, raw, None, raw > 0)

    def price(self) -> np.ndarray:
        """(N,) USD per WETH in the pool."""
        return self.pool.price()

    def quote(self, wallet: Wallet, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """What ``trade`` would get, raw: tried on the pool and undone (a lending side that routes compares it)."""
        with self.pool.trial():
            _, got = self.pool.swap(wallet, sell_usdc, raw, None, mask)
        return got

    def trade(
        self, group: str, wallet: Wallet, sell_usdc: np.ndarray, raw: np.ndarray, *, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap on the pool from ``wallet``, booked to it (``group``: the world's block accounts record
        only its own pool's swaps); returns (paid, got), raw."""
        mask = np.ones(self.world.n, bool) if mask is None else mask
        return swap(self.pool, self.world.ledger, wallet, sell_usdc, raw, None, mask)
