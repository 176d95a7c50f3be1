"""Read a market's state at the chain's latest block, through any :class:`Chain` (a node over RPC, a
pyrevm fork), into plain snapshots the simulator starts from. All values stay in raw units."""

from __future__ import annotations

from dataclasses import dataclass

from envs.assets import AaveReserveParams
from envs.contracts.contract import Contract
from envs.units import MAX_TICK, MIN_TICK, Q96, Q128, RAY_FLOAT


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
        return self.sqrt_price_x96 / Q96

    def fee_growth_outside(self) -> dict[int, tuple[float, float]]:
        return {t: (_signed(v[2]) / Q128, _signed(v[3]) / Q128) for t, v in self.ticks.items()}


def read_v3_pool(pool: Contract) -> V3PoolSnapshot:
    """slot0, active liquidity, global fee growth and every initialized tick, found word by word in the
    pool's own ``tickBitmap`` (TickBitmap.position: word = (tick / spacing) >> 8), so any chain at any block
    will do: nothing but the pool is read."""
    spacing = pool.call("tickSpacing")
    sqrt_price_x96, tick, *_ = pool.call("slot0")
    ticks = {}
    for word in range((MIN_TICK // spacing) >> 8, ((MAX_TICK // spacing) >> 8) + 1):
        bits = pool.call("tickBitmap", word)
        while bits:
            bit = (bits & -bits).bit_length() - 1
            bits &= bits - 1
            t = ((word << 8) + bit) * spacing
            gross, net, out0, out1, *_ = pool.call("ticks", t)
            ticks[t] = (net, gross, out0, out1)
    return V3PoolSnapshot(
        pool.call("fee"),
        sqrt_price_x96,
        tick,
        pool.call("liquidity"),
        pool.call("feeGrowthGlobal0X128"),
        pool.call("feeGrowthGlobal1X128"),
        ticks,
        pool.call("token0"),
        pool.call("token1"),
    )


def v3_pool_state(snapshot: V3PoolSnapshot, xp, n: int, max_ticks: int = 32, max_positions: int = 2, device=None):
    """N simulator worlds starting from ``snapshot`` (ticks, gross, fee growth and all). The tick is
    the pool's own slot0.tick: at a price exactly on a tick boundary the price alone cannot say
    which side the pool is on."""
    from envs.protocols.uniswap_v3.pool import V3PoolParams, initial_state

    params = V3PoolParams(
        fee_pips=snapshot.fee, max_ticks=max(max_ticks, len(snapshot.ticks) + 4), max_positions=max_positions
    )
    state = initial_state(
        xp,
        n,
        params,
        snapshot.sqrt_price,
        {t: float(v[0]) for t, v in snapshot.ticks.items()},
        device,
        tick_liquidity_gross={t: float(v[1]) for t, v in snapshot.ticks.items()},
        fee_growth_global=(
            _signed(snapshot.fee_growth_global0_x128) / Q128,
            _signed(snapshot.fee_growth_global1_x128) / Q128,
        ),
        fee_growth_outside=snapshot.fee_growth_outside(),
        tick=snapshot.tick,
    )
    return params, state


@dataclass(frozen=True)
class AaveReserveSnapshot:
    params: AaveReserveParams  # configuration, caps and rate strategy as the chain has them
    liquidity_index_ray: int
    variable_borrow_index_ray: int
    liquidity_rate_ray: int
    variable_borrow_rate_ray: int
    last_update_timestamp: int
    available_liquidity: int  # underlying held by the aToken
    scaled_atoken_supply: int
    scaled_variable_debt: int
    accrued_to_treasury_scaled: int


def read_aave_market(aave, tokens: dict) -> tuple[dict[str, AaveReserveSnapshot], dict[str, int], int]:
    """Every listed reserve of ``tokens`` (symbol -> Token): (reserves, oracle prices (8 decimals), timestamp)."""
    reserves, prices = {}, {}
    for symbol, token in tokens.items():
        data = aave.pool.call("getReserveData", token.address)
        (
            _config,
            liquidity_index,
            liquidity_rate,
            borrow_index,
            borrow_rate,
            _stable_rate,
            last_update,
            _id,
            a_token,
            _stable_debt,
            variable_debt,
            strategy_address,
            accrued_to_treasury,
            *_rest,
        ) = data
        decimals, ltv, threshold, bonus, reserve_factor, *_flags = aave.data_provider.call(
            "getReserveConfigurationData", token.address
        )
        borrow_cap, supply_cap = aave.data_provider.call("getReserveCaps", token.address)
        strategy = Contract(aave.chain, strategy_address, "DefaultReserveInterestRateStrategy")
        params = AaveReserveParams(
            symbol=symbol,
            decimals=decimals,
            ltv=ltv,
            liquidation_threshold=threshold,
            liquidation_bonus=bonus,
            reserve_factor=reserve_factor,
            liquidation_protocol_fee=aave.data_provider.call("getLiquidationProtocolFee", token.address),
            base_variable_borrow_rate=strategy.call("getBaseVariableBorrowRate"),
            variable_rate_slope1=strategy.call("getVariableRateSlope1"),
            variable_rate_slope2=strategy.call("getVariableRateSlope2"),
            optimal_usage_ratio=strategy.call("OPTIMAL_USAGE_RATIO"),
            supply_cap=supply_cap,
            borrow_cap=borrow_cap,
            price_usd_8dec=aave.price(token),
        )
        reserves[symbol] = AaveReserveSnapshot(
            params,
            liquidity_index,
            borrow_index,
            liquidity_rate,
            borrow_rate,
            last_update,
            token.balance_of(a_token),
            Contract(aave.chain, a_token, "AToken").call("scaledTotalSupply"),
            Contract(aave.chain, variable_debt, "VariableDebtToken").call("scaledTotalSupply"),
            accrued_to_treasury,
        )
        prices[symbol] = params.price_usd_8dec
    return reserves, prices, aave.chain.timestamp()


def aave_state(reserves: dict[str, AaveReserveSnapshot], xp, n: int, n_accounts: int, device=None):
    """N simulator worlds of the Aave market in ``reserves``, with ``n_accounts`` empty accounts."""
    from envs.protocols.aave_v3 import pool as aave

    snaps = list(reserves.values())
    params = aave.aave_params(xp, {s: r.params for s, r in reserves.items()}, device)
    state = aave.initial_state(
        xp,
        n,
        n_accounts,
        len(snaps),
        0.0,
        device,
        liquidity_index=[r.liquidity_index_ray / RAY_FLOAT for r in snaps],
        variable_borrow_index=[r.variable_borrow_index_ray / RAY_FLOAT for r in snaps],
        liquidity_rate=[r.liquidity_rate_ray / RAY_FLOAT for r in snaps],
        variable_borrow_rate=[r.variable_borrow_rate_ray / RAY_FLOAT for r in snaps],
        available_liquidity=[float(r.available_liquidity) for r in snaps],
        scaled_atoken_supply=[float(r.scaled_atoken_supply) for r in snaps],
        scaled_variable_debt=[float(r.scaled_variable_debt) for r in snaps],
    )
    state.last_update = state.last_update + xp.asarray(
        [float(r.last_update_timestamp) for r in snaps], dtype=xp.float64, device=device
    )
    state.accrued_to_treasury = state.accrued_to_treasury + xp.asarray(
        [float(r.accrued_to_treasury_scaled) for r in snaps], dtype=xp.float64, device=device
    )
    return params, state


def read_v2_pair(pair: Contract) -> tuple[int, int, int]:
    """(reserve0, reserve1, totalSupply) of a Uniswap V2 pair, raw."""
    reserve0, reserve1, _ = pair.call("getReserves")
    return reserve0, reserve1, pair.call("totalSupply")
