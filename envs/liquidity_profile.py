"""The background liquidity a fresh USDC/WETH pool gets, on the chain and in the simulator alike:
ranges centred on the start price, concentrated near it and thinning out, like mainnet's pools."""

from __future__ import annotations

import math

from envs.units import MAX_TICK, MIN_TICK

#: ranges as (half-width as a fraction of price, share of the pool's value); None is the full range
LiquidityProfile = tuple[tuple[float | None, float], ...]

DEFAULT_LIQUIDITY_PROFILE: LiquidityProfile = (
    (0.005, 0.30),
    (0.02, 0.25),
    (0.10, 0.20),
    (0.30, 0.15),
    (None, 0.10),
)

#: the backgrounds fitted to a real pool's daily turnover with ``python -m envs.data check-turnover``
#: (README, "Turnover against a real pool"), per fee tier: (re-centring LPs as (half-width in ticks, share
#: of the pool's value), the static profile the rest is laid in). 0.3%: WETH/USDT 0.3%, fitted on
#: 2021-08-10..30 (+4%), held out 08-31..09-05 (-5%); 0.05%: WETH/USDT 0.05%, the same days (-1%, -14%).
FITTED_BACKGROUNDS: dict[int, tuple[tuple[tuple[int, float], ...], tuple[tuple[float | None, float], ...]]] = {
    3000: (((2400, 0.3),), ((0.3, 0.5), (None, 0.5))),
    500: (((200, 0.6),), ((0.3, 0.5), (None, 0.5))),
}
BACKGROUNDS = ("recentering", "static")


def background(
    name: str, fee_pips: int
) -> tuple[tuple[tuple[int, float], ...], tuple[tuple[float | None, float], ...]]:
    """(re-centring LPs, static profile) of a named background: ``recentering``, the one fitted to real
    turnover for the fee tier; ``static``, the default profile laid once at the start, never moving."""
    if name == "static":
        return (), DEFAULT_LIQUIDITY_PROFILE
    if name != "recentering":
        raise ValueError(f"env.background={name!r} must be one of {list(BACKGROUNDS)}")
    if fee_pips not in FITTED_BACKGROUNDS:
        raise ValueError(
            f"env.background=recentering is fitted for the fee tiers {sorted(FITTED_BACKGROUNDS)}, not "
            f"fee_pips={fee_pips}: set env.background=static, or give env.recentering_lps and "
            f"env.liquidity_profile yourself (python -m envs.data check-turnover fits them)"
        )
    return FITTED_BACKGROUNDS[fee_pips]


def profile_ticks(center_tick, spacing: int, half_width: float | None):
    """(lower, upper) ticks of one range around ``center_tick`` (an int or an integer array)."""
    if half_width is None:
        return -(-MIN_TICK // spacing) * spacing + 0 * center_tick, MAX_TICK // spacing * spacing + 0 * center_tick
    w = max(spacing, round(math.log1p(half_width) / math.log1p(1e-4)))
    lower = (center_tick - w) // spacing * spacing
    upper = -((-(center_tick + w)) // spacing) * spacing
    return lower, upper
