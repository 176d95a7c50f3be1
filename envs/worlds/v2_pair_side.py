"""A Uniswap V2 USDC/WETH pair a world holds beside its own pool (``V3WorldParams.v2_pair_usd``): a second venue on
the same reference price, a component like a lending side. It starts seeded at the world's start price (on a chain,
the built market seeded it), and each block, after the world's pool, its own arbitrageur and noise traders trade it
as a V2 world's pair is traded (``v2_market.pair_flows``)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.worlds.toy_flow import noise_orders
from envs.worlds.v2_market import V2WorldParams, pair_flows, pair_price, pair_quote, seed_reserves, trade_pair
from envs.worlds.v2_pair import SimUniswapV2Pair, UniswapV2Pair
from envs.worlds.world import World


def pair_beside(
    world: World, params: V2WorldParams | None, pair: Callable[[], UniswapV2Pair]
) -> tuple[UniswapV2PairSide, ...]:
    """The pair a world holds beside its pool, over the backend's ``pair()``, as its first components; none where
    ``params`` is None (``V3WorldParams.v2_pair``)."""
    return () if params is None else (UniswapV2PairSide(world, pair(), params),)


class UniswapV2PairSide:
    """``pair`` (the simulator's or a chain's) held by ``world``, of ``params.pool_value_usd`` at the start, traded by
    its arbitrageur and ``params``' noise traders from the world's named wallets."""

    lends = False  # a venue, not a lending side
    SWAP_GAS = "v2_swap"  # a swap through it (``envs.assets.gas``)

    def __init__(self, world: World, pair: UniswapV2Pair, params: V2WorldParams):
        self.world, self.pair, self.params = world, pair, params

    def reset(self, rng: np.random.Generator) -> None:
        """A batched pair starts seeded at the world's start price; a chain's was built with the market."""
        if isinstance(self.pair, SimUniswapV2Pair):
            self.pair.reset(*seed_reserves(self.params.pool_value_usd, self.world.reference_price()))

    def follow(self) -> None:
        """Nothing: the pair follows the reference through its arbitrageur, when it trades (``step``)."""

    def step(self) -> None:
        """The block's trades on the pair, after the world's pool: the arbitrage to its band, the noise swaps."""
        world = self.world
        reference = world.reference_price()
        pair_flows(self.pair, world.ledger, reference, noise_orders(world.rng, world.n, self.params, reference))

    def price(self) -> np.ndarray:
        """(N,) USD per WETH in the pair."""
        return pair_price(self.pair)

    def quote(self, wallet: str, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """What ``trade`` would get from the pair as it stands, raw (a lending side that routes compares it)."""
        return pair_quote(self.pair, sell_usdc, np.where(mask, raw, 0.0))

    def trade(
        self, group: str, wallet: str, sell_usdc: np.ndarray, raw: np.ndarray, *, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap through the pair from ``wallet``, booked to it (``group``: the world's block accounts
        record only its own pool's swaps); returns (paid, got), raw."""
        mask = np.ones(self.world.n, bool) if mask is None else mask
        return trade_pair(self.pair, self.world.ledger, wallet, sell_usdc, raw, mask)
