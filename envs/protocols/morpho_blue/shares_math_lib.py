"""morpho-blue src/libraries/SharesMathLib.sol: assets <-> shares at a market's totals, with virtual shares
and assets so the first depositor cannot inflate the share price; rounding always favours the market."""

from __future__ import annotations

from envs.protocols.morpho_blue.math_lib import mul_div_down, mul_div_up

VIRTUAL_SHARES = 10**6  # SharesMathLib.VIRTUAL_SHARES
VIRTUAL_ASSETS = 1  # SharesMathLib.VIRTUAL_ASSETS

_VIRTUAL_SHARES, _VIRTUAL_ASSETS = float(VIRTUAL_SHARES), float(VIRTUAL_ASSETS)


def to_shares_down(assets, total_assets, total_shares):
    """SharesMathLib.toSharesDown: assets * (totalShares + 1e6) / (totalAssets + 1), rounded down."""
    return mul_div_down(assets, total_shares + _VIRTUAL_SHARES, total_assets + _VIRTUAL_ASSETS)


def to_assets_down(shares, total_assets, total_shares):
    """SharesMathLib.toAssetsDown: shares * (totalAssets + 1) / (totalShares + 1e6), rounded down."""
    return mul_div_down(shares, total_assets + _VIRTUAL_ASSETS, total_shares + _VIRTUAL_SHARES)


def to_shares_up(assets, total_assets, total_shares):
    """SharesMathLib.toSharesUp: as toSharesDown, rounded up."""
    return mul_div_up(assets, total_shares + _VIRTUAL_SHARES, total_assets + _VIRTUAL_ASSETS)


def to_assets_up(shares, total_assets, total_shares):
    """SharesMathLib.toAssetsUp: as toAssetsDown, rounded up."""
    return mul_div_up(shares, total_assets + _VIRTUAL_ASSETS, total_shares + _VIRTUAL_SHARES)
