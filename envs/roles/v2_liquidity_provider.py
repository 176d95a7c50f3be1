"""The Uniswap V2 liquidity provider: chooses what share of its capital to hold as USDC/WETH pair
shares (the rest idle in its wallet). Adding swaps the wallet to the pair's ratio first, then
deposits through Router02; removing redeems shares. Scored by PnL at the reference price net of gas.

This module is the one source of the V2 LP's observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.assets.gas import action_units, gas_units, units_usd
from envs.roles.actions import ACT_AND_LEVEL, act_and_level, check_action_type, choice
from envs.roles.role import Receipt
from envs.roles.volatility import WatchesReference
from envs.units import USDC_UNIT, WETH_UNIT
from envs.worlds.v2_market import UniswapV2Market

DEFAULT_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)  # of the portfolio's value held in the pair
SHARE_TOLERANCE = 0.02  # a share of the portfolio this close to the target is left alone
OBSERVATION_FEATURES = (
    ("pool_vs_reference", "100 * log(pair price / reference price)", "%"),
    ("in_pair", "share of the portfolio's value held as pair shares", "1"),
    ("weth_share", "share of the portfolio held in WETH, pair shares looked through", "1"),
    ("last_return", "100 * log return of the reference price over the last step", "%"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
    ("deposit_gas_usd", "gas of a swap and a deposit, USD / 10", "10 USD"),
)


def portfolio(market: UniswapV2Market) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value in USD at the reference price, of which in the pair, WETH held in whole tokens, all looked through)."""
    ref = market.reference_price()
    wallet_usdc, wallet_weth = market.agent_wallet_raw()
    pair_usdc, pair_weth = market.agent_position()
    in_pair = pair_usdc / USDC_UNIT + pair_weth / WETH_UNIT * ref
    weth = (wallet_weth + pair_weth) / WETH_UNIT
    return wallet_usdc / USDC_UNIT + wallet_weth / WETH_UNIT * ref + in_pair, in_pair, weth


@dataclass
class V2LiquidityProvider(WatchesReference):
    shares: tuple[float, ...] = DEFAULT_SHARES
    action_type: str = "discrete"  # or "continuous": [act if > 0, the share scaled to [-1, 1]]
    gas_price_gwei: float = 10.0
    volatility_halflife_steps: float = 24.0
    FEATURES = OBSERVATION_FEATURES
    CONTINUOUS_ACTION_SPACE = ACT_AND_LEVEL

    def __post_init__(self):
        check_action_type(self.action_type)
        if not self.shares or min(self.shares) < 0 or max(self.shares) > 1:
            raise ValueError(f"shares must be fractions of the portfolio in [0, 1], got {self.shares}")

    @property
    def choices(self) -> int:
        return len(self.shares)

    def start(self, market: UniswapV2Market) -> None:
        self.value = portfolio(market)[0]

    def deposit_gas_usd(self, market: UniswapV2Market) -> np.ndarray:
        return units_usd(action_units("v2_swap", "v2_add_liquidity"), self.gas_price_gwei, market.reference_price())

    def observation(self, market: UniswapV2Market) -> np.ndarray:
        value, in_pair, weth = portfolio(market)
        safe = np.maximum(value, 1e-9)
        return np.stack(
            [
                100 * np.log(market.pool_price() / market.reference_price()),
                in_pair / safe,
                weth * market.reference_price() / safe,
                100 * self.volatility.last_return,
                self.volatility.annualized(market.dt),
                self.deposit_gas_usd(market) / 10,
            ],
            axis=1,
        ).astype(np.float32)

    def decode(self, action, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Actions -> (act?, target share in the pair)."""
        if self.action_type == "discrete":
            a = choice(
                action,
                n,
                self.choices,
                f"V2 LP actions must be integers in [0, {len(self.shares)}]: "
                f"0 holds, i moves to shares[i-1] of {self.shares} in the pair",
            )
            return a > 0, np.asarray((0.0,) + tuple(self.shares))[a]
        return act_and_level(action, n, "continuous V2 LP actions must be finite and in [-1, 1]^2")

    def act(self, market: UniswapV2Market, action) -> Receipt:
        """Move toward the target share, paying gas in USD at the reference price."""
        acting, target = self.decode(action, market.n)
        units = provide(market, target, acting) if acting.any() else np.zeros(market.n)
        return Receipt.priced(units, self.gas_price_gwei, market.reference_price())

    def score(self, market: UniswapV2Market, receipt: Receipt) -> tuple[np.ndarray, dict]:
        """Reward: the change in the portfolio's value since the last score, net of gas."""
        gas_usd = receipt.gas_usd
        value, in_pair, _ = portfolio(market)
        pnl = value - self.value - gas_usd
        self.value = value
        return pnl, {"pnl_usd": pnl, "gas_usd": gas_usd, "value_usd": value, "in_pair_usd": in_pair}


def provide(market: UniswapV2Market, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Bring the share of the portfolio held in the pair to ``target`` in masked worlds; returns gas units."""
    g = gas_units()
    value, in_pair, _ = portfolio(market)
    gap = target * value - in_pair  # USD to add (> 0) or take out (< 0)
    move = mask & (np.abs(gap) > SHARE_TOLERANCE * np.maximum(value, 1e-9))
    gas = np.zeros(market.n)
    remove = move & (gap < 0)
    if remove.any():
        mine, _ = market.shares()
        fraction = np.clip(-gap / np.maximum(in_pair, 1e-9), 0.0, 1.0)
        market.remove_liquidity(np.floor(mine * fraction), remove)
        gas += np.where(remove, g["v2_remove_liquidity"], 0.0)
    add = move & (gap > 0)
    if add.any():
        price = market.pool_price()  # deposit at the pair's own ratio, half the value in each token
        usdc, weth = market.agent_wallet_raw()
        want_usdc, want_weth = gap / 2 * USDC_UNIT, gap / 2 / price * WETH_UNIT
        short_usdc = np.clip(want_usdc - usdc, 0.0, None)  # sell WETH for it
        short_weth = np.clip(want_weth - weth, 0.0, None)  # sell USDC for it
        sell_usdc = short_weth > 0
        amount = np.floor(
            np.where(sell_usdc, short_weth * price / WETH_UNIT * USDC_UNIT, short_usdc / price / USDC_UNIT * WETH_UNIT)
            * 1.004
        )  # the pair's fee, and a margin
        swapping = add & (amount > 0)
        market.swap("agent", sell_usdc, amount, swapping)
        usdc, weth = market.agent_wallet_raw()
        market.add_liquidity(np.minimum(np.floor(want_usdc), usdc), np.minimum(np.floor(want_weth), weth), add)
        gas += np.where(add, g["v2_add_liquidity"], 0.0) + np.where(swapping, g["v2_swap"], 0.0)
    return gas
