"""Read a market's state at the chain's latest block, through any :class:`Chain` (a node over RPC, a
pyrevm fork), into plain snapshots the simulator starts from. All values stay in raw units."""
from __future__ import annotations

from dataclasses import dataclass

from envs.chain.contract import Contract
from envs.chain.uniswap_v3 import UniswapV3

Q128 = 2**128


def _signed(value: int) -> int:
    """A uint256 fee-growth value that wrapped below zero, as a signed integer."""
    return value - 2**256 if value >= 2**255 else value


@dataclass(frozen=True)
class V3PoolSnapshot:
    fee: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee_growth_global0_x128: int
    fee_growth_global1_x128: int
    #: tick -> (liquidityNet, liquidityGross, feeGrowthOutside0X128, feeGrowthOutside1X128)
    ticks: dict[int, tuple[int, int, int, int]]
    token0: str
    token1: str

    @property
    def sqrt_price(self) -> float:
        return self.sqrt_price_x96 / 2**96

    def fee_growth_outside(self) -> dict[int, tuple[float, float]]:
        return {t: (_signed(v[2]) / Q128, _signed(v[3]) / Q128) for t, v in self.ticks.items()}


def read_v3_pool(v3: UniswapV3, pool: Contract) -> V3PoolSnapshot:
    """slot0, active liquidity, global fee growth and every initialized tick (found through TickLens)."""
    sqrt_price_x96, tick, *_ = pool.call("slot0")
    ticks = {}
    for t in v3.initialized_ticks(pool):
        gross, net, out0, out1, *_ = pool.call("ticks", t)
        ticks[t] = (net, gross, out0, out1)
    return V3PoolSnapshot(pool.call("fee"), sqrt_price_x96, tick, pool.call("liquidity"),
                          pool.call("feeGrowthGlobal0X128"), pool.call("feeGrowthGlobal1X128"), ticks,
                          pool.call("token0"), pool.call("token1"))


def v3_pool_state(snapshot: V3PoolSnapshot, xp, n: int, max_ticks: int = 32, max_positions: int = 2, device=None):
    """N simulator worlds starting from ``snapshot`` (ticks, gross, fee growth and all)."""
    from envs.protocols.uniswap_v3.pool import V3PoolParams, initial_state

    params = V3PoolParams(fee_pips=snapshot.fee, max_ticks=max(max_ticks, len(snapshot.ticks) + 4),
                          max_positions=max_positions)
    state = initial_state(
        xp, n, params, snapshot.sqrt_price, {t: float(v[0]) for t, v in snapshot.ticks.items()}, device,
        tick_liquidity_gross={t: float(v[1]) for t, v in snapshot.ticks.items()},
        fee_growth_global=(_signed(snapshot.fee_growth_global0_x128) / Q128,
                           _signed(snapshot.fee_growth_global1_x128) / Q128),
        fee_growth_outside=snapshot.fee_growth_outside())
    return params, state
