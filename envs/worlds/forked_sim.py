"""The simulator started from a real pool: N worlds whose USDC/WETH pool is, tick for tick, the pool a
chain holds at a block (``backend.init_from=URL@block``), so a policy trains where it will be
evaluated in attach mode.

The pool (every initialized tick with its net and gross liquidity and fee growth outside, the
global fee growth, slot0) is read once through a pyrevm fork of the URL; each world starts from a
copy of it, the driver's price path rescaled to start at the pool's own price.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from envs.arrays import ArrayBackend
from envs.contracts.state_reader import V3PoolSnapshot
from envs.drivers.base import PriceDriver
from envs.units import USDC_UNIT, WETH_UNIT
from envs.worlds.sim import UniswapV3World, V3WorldParams


@dataclass(frozen=True)
class PoolOrigin:
    """A pool as a chain held it at a block."""

    url: str
    chain_id: int
    block: int
    pool: str
    snapshot: V3PoolSnapshot

    @property
    def price(self) -> float:
        """USD per ETH in the pool (USDC token0, 6 decimals; WETH token1, 18)."""
        return WETH_UNIT / USDC_UNIT / self.snapshot.sqrt_price**2


def parse_init_from(init_from: str) -> tuple[str, int | None]:
    """``URL@block`` -> (URL, block); ``URL`` alone -> (URL, None: the head). An ``@`` inside the URL
    (user@host) stays in the URL unless digits follow the last one."""
    url, sep, block = init_from.rpartition("@")
    if sep and block.isdigit():
        return url, int(block)
    if sep and block in ("latest", ""):
        return url, None
    return init_from, None


@lru_cache(maxsize=8)
def read_origin(init_from: str, addresses: str, fee_pips: int) -> PoolOrigin:
    """Read the book's USDC/WETH pool at ``fee_pips`` from ``init_from`` (``URL@block``); cached per process."""
    from envs.contracts.address_book import address_book, attach_book
    from envs.contracts.fork import check_fork
    from envs.contracts.state_reader import read_v3_pool
    from envs.evm.revm import PyrevmChain

    url, block = parse_init_from(init_from)
    point = check_fork(url, block)
    chain = PyrevmChain(fork_url=point.url, fork_block=point.block, chain_id=point.chain_id)
    market = attach_book(chain, address_book(addresses), point.block)
    if fee_pips not in market.v3_pools:
        raise ValueError(
            f"backend.addresses={addresses!r} has no USDC/WETH pool at fee {fee_pips}: set env.fee_pips "
            f"to one of {sorted(market.v3_pools)}"
        )
    pool = market.v3_pools[fee_pips]
    snapshot = read_v3_pool(pool)
    if snapshot.token0.lower() != market.tokens["USDC"].address.lower():
        raise ValueError(f"pool {pool.address}: token0 is not USDC; the simulator's pool has USDC as token0")
    return PoolOrigin(point.url, point.chain_id, point.block, pool.address, snapshot)


class ForkedStartWorld(UniswapV3World):
    """:class:`UniswapV3World` whose every episode starts from ``origin``'s pool instead of laying the
    liquidity profile (``params.pool_value_usd`` and ``liquidity_profile`` are not used)."""

    def __init__(
        self, n: int, driver: PriceDriver, params: V3WorldParams, backend: ArrayBackend | str, origin: PoolOrigin
    ):
        if params.scripted_lps:
            raise ValueError(
                "backend.init_from starts from a chain's pool and its real LPs: leave "
                "env.recentering_lps and env.jit_usd out"
            )
        if params.fee_pips != origin.snapshot.fee:
            raise ValueError(
                f"env.fee_pips={params.fee_pips} but the pool read from the chain has fee {origin.snapshot.fee}"
            )
        super().__init__(n, driver, params, backend)
        self.origin = origin

    def start(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """Each world a copy of the origin's pool, its path rescaled to start at the pool's price; each LP agent
        funded with ``agent_usd`` (given exactly when the world has LP agents)."""
        from envs.contracts.state_reader import v3_pool_state

        b = self.b
        self.rng = rng
        self.path.reset(rng, self.n)
        self.path.start_at(self.origin.price)  # each world's path, rescaled to start at the pool's price
        self.pool_params, self.state = v3_pool_state(
            self.origin.snapshot, b.xp, self.n, max_positions=self.params.slots, device=b.device
        )
        self.fund_agents(agent_usd)

    def provenance(self) -> dict:
        """Where the worlds started: the pool read, its chain id and block."""
        o = self.origin
        return {
            "market": "init_from",
            "pool": o.pool,
            "fee_pips": o.snapshot.fee,
            "chain_id": o.chain_id,
            "fork_block": o.block,
            "initialized_ticks": len(o.snapshot.ticks),
        }
