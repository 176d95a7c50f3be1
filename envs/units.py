"""Unit conversions, in one place: whole tokens <-> raw integers, prices <-> Q64.96 sqrt prices and ticks.

Convention: the protocol components and the ledger move raw amounts (integers; float64 arrays of them on the
simulator, exact integers on a chain); the worlds' reads for the roles (a position's range, a wallet, fees owed) are
in whole tokens and USD. Prices are human (USD per WETH), except a Uniswap pool's own: token1 per token0 in raw
units, and its Q64.96 sqrt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, getcontext

import numpy as np

getcontext().prec = 80

# --- Protocol constants, exact integers as the contracts have them. The batched float64 math takes
# float(...) of them where it needs a float (numpy and torch cannot hold 10**27 or 2**96 as int64).

#: Aave V3 (aave-v3-core contracts/protocol/libraries/math)
WAD = 10**18  # WadRayMath.WAD
WAD_FLOAT = float(WAD)  # the batched float64 math's WAD
RAY = 10**27  # WadRayMath.RAY
RAY_FLOAT = float(RAY)  # rates and indexes held as ray / 1e27 in float64
PERCENTAGE_FACTOR = 10**4  # PercentageMath.PERCENTAGE_FACTOR: 100.00%, percentages are in basis points
BPS = PERCENTAGE_FACTOR  # basis points in one
SECONDS_PER_YEAR = 365 * 24 * 3600  # MathUtils.SECONDS_PER_YEAR

#: Uniswap V3 (v3-core contracts/libraries, contracts/UniswapV3Factory.sol)
Q96 = 2**96  # FixedPoint96.Q96
Q96_FLOAT = float(Q96)  # the batched float64 math's Q96
Q128 = 2**128  # FixedPoint128.Q128
FEE_DENOMINATOR = 1_000_000  # SwapMath: fees are in pips, 3000 = 0.3%
MIN_TICK, MAX_TICK = -887272, 887272  # TickMath.MIN_TICK / TickMath.MAX_TICK
#: fee tier (pips) -> tick spacing: UniswapV3Factory's constructor (100 enabled later by governance)
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}
FEE_TIERS = tuple(TICK_SPACING)  # the fee tiers a USDC/WETH pool can have, in pips

#: Aave V3's oracle base currency: USD with 8 decimals (AaveOracle.BASE_CURRENCY_UNIT on Ethereum)
BASE_UNIT = 1e8

#: Solidity integer bounds
MAX_UINT128 = 2**128 - 1  # type(uint128).max
MAX_UINT128_FLOAT = float(MAX_UINT128)  # the batched float64 math's type(uint128).max (the nearest float: 2**128)
MAX_UINT256 = 2**256 - 1  # type(uint256).max

# --- Tokens: each asset's decimals, written once


@dataclass(frozen=True)
class Asset:
    """An ERC-20's symbol and decimals: what scales its raw integers to whole tokens."""

    symbol: str
    decimals: int

    @property
    def unit(self) -> float:
        """Raw units per whole token, as a float for the simulator's batched math."""
        return float(10**self.decimals)

    def raw(self, amount: float | str | Decimal) -> int:
        """``amount`` whole tokens as the exact raw integer, rounded down."""
        return to_raw(amount, self.decimals)


USDC = Asset("USDC", 6)  # token0 of USDC/WETH on Ethereum
WETH = Asset("WETH", 18)  # token1
WBTC = Asset("WBTC", 8)
ASSETS = {a.symbol: a for a in (USDC, WETH, WBTC)}

USDC_UNIT, WETH_UNIT, WBTC_UNIT = USDC.unit, WETH.unit, WBTC.unit  # raw units per whole token (floats)
LIQUIDITY_UNIT = (USDC_UNIT * WETH_UNIT) ** 0.5  # raw liquidity per sqrt(USDC * WETH)

# --- Time
DAY = 86_400.0  # seconds in a day, a float for the flows' rates per day


def to_raw(amount: float | str | Decimal, decimals: int) -> int:
    """Whole tokens -> raw integer units (rounded down)."""
    value = Decimal(str(amount)) * (Decimal(10) ** decimals)
    if value < 0:
        raise ValueError(f"token amount must be non-negative, got {amount}")
    return int(value)


def held_amount(raw: float, held: int) -> int:
    """A float64 raw amount as the integer a transaction sends from a balance of ``held``: no more than it, and all
    of it where the amount reaches it as float64 (a balance read as float64 can round past or below its last
    digits; inf: all of it)."""
    return held if raw >= float(held) else int(raw)


def pool_price(price_quote_per_base: float, base_is_token0: bool, dec0: int, dec1: int) -> Decimal:
    """Human price (quote per base) -> the pool's raw price, token1 per token0."""
    p = Decimal(str(price_quote_per_base))
    human_t1_per_t0 = p if base_is_token0 else 1 / p
    return human_t1_per_t0 * Decimal(10) ** (dec1 - dec0)


def price_to_sqrt_price_x96(raw_t1_per_t0: Decimal) -> int:
    """Raw price -> sqrt price in Q64.96, rounded down (Uniswap V3's slot0 format)."""
    return math.isqrt(int(Decimal(raw_t1_per_t0) * Decimal(2**192)))


def price_to_tick(raw_t1_per_t0: float | Decimal) -> int:
    """The tick whose price is at or just below ``raw_t1_per_t0`` (price = 1.0001^tick)."""
    return math.floor(math.log(float(raw_t1_per_t0)) / math.log1p(1e-4))


def align_tick(tick: int, spacing: int, *, up: bool = False) -> int:
    return (tick // spacing + (1 if up and tick % spacing else 0)) * spacing


def usd_per_eth_at_tick(tick) -> np.ndarray:
    """USD per ETH at a USDC/WETH tick (USDC token0, 6 decimals; WETH token1, 18): the raw price
    1.0001^tick is WETH per USDC, so the human price falls as the tick rises."""
    return WETH_UNIT / USDC_UNIT / np.exp(np.asarray(tick, dtype=float) * math.log1p(1e-4))
