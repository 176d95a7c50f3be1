"""Uniswap v2-core contracts/UniswapV2Pair.sol, batched: reserves and LP shares of N independent pairs.
Amounts are raw units in float64, rounded down as the contract rounds them. A world where the contract reverts
keeps its state and trades nothing: a swap of no input (UniswapV2Library 'INSUFFICIENT_INPUT_AMOUNT') or for no
output (UniswapV2Pair 'INSUFFICIENT_OUTPUT_AMOUNT'), a mint of no shares ('INSUFFICIENT_LIQUIDITY_MINTED'; a deposit
of none of one token, which Router02 refuses as 'INSUFFICIENT_AMOUNT', mints none), a burn that redeems nothing of
either token ('INSUFFICIENT_LIQUIDITY_BURNED'). A first mint of no more than MINIMUM_LIQUIDITY shares is refused
too; the pair itself reverts on its SafeMath underflow there, which the worlds never reach (their pairs are seeded)."""

from __future__ import annotations

from dataclasses import dataclass

from envs.arrays import Array
from envs.protocols import array_namespace
from envs.protocols.uniswap_v2.library import FEE_BPS, get_amount_out

MINIMUM_LIQUIDITY = 1000.0  # shares locked forever by the first mint


@dataclass
class V2PairState:
    reserve0: Array  # (N,)
    reserve1: Array
    total_supply: Array  # LP shares, raw


def initial_state(
    xp, n: int, reserve0: float, reserve1: float, total_supply: float | None = None, device=None
) -> V2PairState:
    if reserve0 < 0 or reserve1 < 0:
        raise ValueError(f"reserves must be non-negative, got {reserve0}, {reserve1}")
    supply = total_supply if total_supply is not None else (reserve0 * reserve1) ** 0.5
    f = dict(dtype=xp.float64, device=device)
    return V2PairState(
        xp.full((n,), float(reserve0), **f), xp.full((n,), float(reserve1), **f), xp.full((n,), float(supply), **f)
    )


def swap(state: V2PairState, zero_for_one, amount_in, mask, fee_bps: float = FEE_BPS):
    """Exact-input swap through the router in masked worlds; returns the amount out (never more than the reserve;
    0 where the swap is refused)."""
    xp = array_namespace(amount_in)
    if bool(xp.any(mask & ~(amount_in >= 0))):
        raise ValueError("swap amounts must be non-negative")
    r_in = xp.where(zero_for_one, state.reserve0, state.reserve1)
    r_out = xp.where(zero_for_one, state.reserve1, state.reserve0)
    amount_in = xp.where(mask, amount_in, 0.0)
    out = get_amount_out(amount_in, r_in, r_out, fee_bps)
    amount_in = xp.where(out > 0, amount_in, 0.0)  # no output (none for no input): refused
    state.reserve0 = state.reserve0 + xp.where(zero_for_one, amount_in, -out)
    state.reserve1 = state.reserve1 + xp.where(zero_for_one, -out, amount_in)
    return out


def mint(state: V2PairState, amount0, amount1, mask):
    """Add liquidity at the pair's ratio (what Router02.addLiquidity deposits); returns
    (shares minted, amount0 used, amount1 used). The first deposit locks MINIMUM_LIQUIDITY shares."""
    xp = array_namespace(amount0)
    # Router02._addLiquidity: amountBOptimal = quote(amountA) (UniswapV2Library.quote, rounded down); deposit it
    # with all of A where it fits the B offered, else all of B with quote(amountB) of A
    optimal1 = xp.floor(amount0 * state.reserve1 / xp.where(state.reserve0 > 0, state.reserve0, 1.0))
    use1 = xp.where(state.total_supply > 0, xp.minimum(amount1, optimal1), amount1)
    optimal0 = use1 * state.reserve0 / xp.where(state.reserve1 > 0, state.reserve1, 1.0)
    use0 = xp.where((state.total_supply > 0) & (optimal1 > amount1), xp.floor(optimal0), amount0)
    first = state.total_supply == 0
    shares = xp.where(
        first,
        xp.floor(xp.sqrt(use0 * use1)) - MINIMUM_LIQUIDITY,
        xp.floor(
            xp.minimum(
                use0 * state.total_supply / xp.where(first, 1.0, state.reserve0),
                use1 * state.total_supply / xp.where(first, 1.0, state.reserve1),
            )
        ),
    )
    minted = mask & (shares > 0)
    shares, use0, use1 = (xp.where(minted, v, 0.0) for v in (shares, use0, use1))
    state.total_supply = state.total_supply + shares + xp.where(minted & first, MINIMUM_LIQUIDITY, 0.0)
    state.reserve0, state.reserve1 = state.reserve0 + use0, state.reserve1 + use1
    return shares, use0, use1


def burn(state: V2PairState, shares, mask):
    """Redeem LP shares for their pro-rata reserves; returns (amount0, amount1)."""
    xp = array_namespace(shares)
    safe = xp.where(state.total_supply > 0, state.total_supply, 1.0)
    amount0, amount1 = xp.floor(shares * state.reserve0 / safe), xp.floor(shares * state.reserve1 / safe)
    burned = mask & (amount0 > 0) & (amount1 > 0)
    shares, amount0, amount1 = (xp.where(burned, v, 0.0) for v in (shares, amount0, amount1))
    state.total_supply = state.total_supply - shares
    state.reserve0, state.reserve1 = state.reserve0 - amount0, state.reserve1 - amount1
    return amount0, amount1
