"""The borrower: runs a leveraged ETH position on Aave V3 (WETH collateral, USDC debt) by choosing a
target LTV. Levering up borrows USDC, swaps it to WETH through the pool and supplies it; levering down
withdraws WETH, swaps it to USDC and repays, never taking the health factor below
``1 + HEALTH_MARGIN`` (no flash loans: deep deleveraging takes several rounds). Scored by the change
in equity at the reference price net of gas; a liquidation shows up as its penalty.

This module is the one source of the borrower's observation, for training, evaluation and the live
adapter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.assets.gas import action_units, units_usd
from envs.roles.actions import ACT_AND_LEVEL, act_and_level, check_action_type, choice
from envs.roles.role import Receipt
from envs.roles.volatility import WatchesReference
from envs.units import BASE_UNIT, USDC_UNIT, WETH_UNIT
from envs.worlds.lending import AGENT_ACCOUNT, BORROWER, LendingMarket, Position, lending_of
from envs.worlds.v3_accounts import UniswapV3Accounts

#: target LTVs a discrete action can choose (leverage 1 / (1 - LTV): 1x ... 4x); WETH's max LTV is 80.5%
DEFAULT_TARGETS = (0.0, 0.3, 0.5, 0.65, 0.75)
LTV_TOLERANCE = 0.01  # an LTV this close to the target is left alone
HEALTH_MARGIN = 0.01  # a withdrawal keeps the health factor above 1 + this
BORROW_MARGIN = 0.005  # a borrow stays this far below the max LTV
ROUNDS = 4  # borrow-swap-supply (or withdraw-swap-repay) rounds per step at most


def lever_up(lending: LendingMarket) -> tuple[str, str, str]:
    """The gas table's names of one round up: borrow USDC, swap it to WETH through the world's pool, supply the
    WETH."""
    gas = lending.pool.GAS
    return gas["borrow"], lending.world.SWAP_GAS, gas["supply"]


def lever_down(lending: LendingMarket) -> tuple[str, str, str]:
    """One round down: withdraw WETH, swap it to USDC through the world's pool, repay."""
    gas = lending.pool.GAS
    return gas["withdraw"], lending.world.SWAP_GAS, gas["repay"]


def round_units(lending: LendingMarket, *calls: str) -> np.ndarray:
    """(N,) the gas units of a round just made: its lending ``calls``', and its swap's on the venue it went to."""
    return action_units(*calls) + lending.swap_units


OBSERVATION_FEATURES = (
    ("health_factor", "min(health factor, 5); 5 without debt", "1"),
    ("ltv", "debt / collateral at the oracle", "1"),
    ("liquidation_threshold", "the account's liquidation threshold", "1"),
    ("equity_change", "100 * log(equity / equity at the episode start)", "%"),
    ("last_return", "100 * log return of the reference price over the last step", "%"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
    ("pool_vs_reference", "100 * log(pool price / reference price)", "%"),
    ("round_gas_usd", "gas of one leverage round, in USD / 10", "10 USD"),
)


#: the health factor reported where it is larger (an account without debt has an infinite one)
HEALTH_FACTOR_CAP = 1e3


def equity_usd(lending: LendingMarket, position: Position | None = None) -> np.ndarray:
    """Wallet plus collateral minus debt, at the reference price (USDC at $1)."""
    pos = position or lending.position(AGENT_ACCOUNT)
    usdc, weth = lending.borrower_wallet()
    reference = lending.world.reference_price()
    return usdc + (weth + pos.collateral_weth / WETH_UNIT) * reference - pos.debt_usdc / USDC_UNIT


@dataclass
class Borrower(WatchesReference):
    targets: tuple[float, ...] = DEFAULT_TARGETS
    action_type: str = "discrete"  # or "continuous": [lever if > 0, target LTV scaled to [-1, 1]]
    gas_price_gwei: float = 10.0
    volatility_halflife_steps: float = 24.0
    FEATURES = OBSERVATION_FEATURES
    CONTINUOUS_ACTION_SPACE = ACT_AND_LEVEL

    def __post_init__(self):
        check_action_type(self.action_type)
        if not self.targets or min(self.targets) < 0 or max(self.targets) >= 0.805:
            raise ValueError(f"targets must be LTVs in [0, 0.805) (WETH's max LTV), got {self.targets}")

    @property
    def choices(self) -> int:
        return len(self.targets)

    # --- episode state ----------------------------------------------------------------------
    def start(self, market: UniswapV3Accounts) -> None:
        self.read(market)
        lending = lending_of(market)
        self.initial = self.value = equity_usd(lending, self.position)  # ``value``: what the last score counted from

    def read(self, market: UniswapV3Accounts) -> None:
        self.position = lending_of(market).position(AGENT_ACCOUNT)

    def round_gas_usd(self, market: UniswapV3Accounts) -> np.ndarray:
        return units_usd(action_units(*lever_up(lending_of(market))), self.gas_price_gwei, market.reference_price())

    def observation(self, market: UniswapV3Accounts) -> np.ndarray:
        pos = self.position
        equity = equity_usd(lending_of(market), pos)
        return np.stack(
            [
                np.minimum(pos.health_factor, 5.0),
                np.minimum(pos.ltv, 5.0),
                pos.liquidation_threshold,
                100 * np.log(np.maximum(equity, 1e-9) / self.initial),
                100 * self.volatility.last_return,
                self.volatility.annualized(market.dt),
                100 * np.log(market.pool_price() / market.reference_price()),
                self.round_gas_usd(market) / 10,
            ],
            axis=1,
        ).astype(np.float32)

    # --- actions ----------------------------------------------------------------------------
    def decode(self, action, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Actions -> (act?, target LTV), checked against the action space."""
        if self.action_type == "discrete":
            a = choice(
                action,
                n,
                self.choices,
                f"borrower actions must be integers in [0, {len(self.targets)}]: "
                f"0 holds, i moves to target LTV targets[i-1] of {self.targets}",
            )
            return a > 0, np.asarray((0.0,) + tuple(self.targets))[a]
        acting, level = act_and_level(action, n, "continuous borrower actions must be finite and in [-1, 1]^2")
        return acting, level * max(self.targets)

    def act(self, market: UniswapV3Accounts, action) -> Receipt:
        """Move toward the target LTV, paying gas in USD at the reference price; notes the debt after
        acting, so ``score`` can tell a liquidation (only one lowers the debt afterwards)."""
        acting, target = self.decode(action, market.n)
        lending = lending_of(market)
        units = lever_to(lending, target, acting) if acting.any() else np.zeros(market.n)
        self.debt_after_act = lending.position(AGENT_ACCOUNT).debt_usdc
        return Receipt.priced(units, self.gas_price_gwei, market.reference_price())

    def score(self, market: UniswapV3Accounts, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward: the change in equity since the last score, net of gas."""
        gas_usd, pos = receipt.gas_usd, self.position
        equity = equity_usd(lending_of(market), pos)
        pnl = equity - self.value - gas_usd
        self.value = equity
        return pnl, {
            "pnl_usd": pnl,
            "gas_usd": gas_usd,
            "equity_usd": equity,
            "liquidated": (pos.debt_usdc < self.debt_after_act).astype(float),
            "health_factor": np.minimum(pos.health_factor, HEALTH_FACTOR_CAP),
        }


def lever_to(lending: LendingMarket, target: np.ndarray, mask: np.ndarray, rounds: int = ROUNDS) -> np.ndarray:
    """Take the borrower agent's lending account toward ``target`` LTV in masked worlds, in at most ``rounds``
    rounds; returns the gas units spent."""
    gas = np.zeros(lending.n)
    for _ in range(rounds):
        pos = lending.position(AGENT_ACCOUNT)
        c, d = pos.collateral_base, pos.debt_base
        up = mask & (target > pos.ltv + LTV_TOLERANCE) & (c > 0)
        down = mask & (target < pos.ltv - LTV_TOLERANCE) & (d > 0)
        if not (up | down).any():
            break
        # up: borrow what takes debt / collateral to the target once the bought WETH is supplied
        room = np.clip(c * (pos.max_ltv - BORROW_MARGIN) - d, 0.0, None)
        borrow = np.floor(np.minimum((target * c - d) / (1 - target), room) / BASE_UNIT * USDC_UNIT)
        up &= borrow > 0
        if up.any():
            ok = up & (lending.borrow(AGENT_ACCOUNT, borrow, up) == 0)
            _, weth = lending.swap(BORROWER, np.ones(lending.n, bool), borrow, ok)
            lending.supply(AGENT_ACCOUNT, weth, ok & (weth > 0))
            gas += np.where(ok, round_units(lending, lending.pool.GAS["borrow"], lending.pool.GAS["supply"]), 0.0)
        # down: repay what brings the LTV to the target, from WETH withdrawn within the health margin
        if down.any():
            need = np.clip((d - target * c) / (1 - target), 0.0, None)
            free = np.clip(c - d * (1 + HEALTH_MARGIN) / np.maximum(pos.liquidation_threshold, 1e-9), 0.0, None)
            withdraw = np.floor(np.minimum(need * 1.003, free) / BASE_UNIT / lending.oracle_price() * WETH_UNIT)
            down &= withdraw > 0
            ok = down & (lending.withdraw(AGENT_ACCOUNT, withdraw, down) == 0)
            _, usdc = lending.swap(BORROWER, np.zeros(lending.n, bool), withdraw, ok)
            owed = np.where(target == 0, np.inf, usdc)  # going flat: repay all the debt the wallet covers
            lending.repay(AGENT_ACCOUNT, np.minimum(owed, np.floor(lending.borrower_wallet()[0] * USDC_UNIT + 0.5)), ok)
            gas += np.where(ok, round_units(lending, lending.pool.GAS["withdraw"], lending.pool.GAS["repay"]), 0.0)
    return gas
