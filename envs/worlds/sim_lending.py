"""The Uniswap V3 + Aave V3 market on the simulator: N worlds, the batched Aave pool next to the
batched V3 pool. Aave is seeded as the local mainnet seeds it (``supply_usd`` per reserve, at the
2025-03-19 parameters with the calibrated rate curves), its oracle follows the reference price, and its
clock moves ``dt`` a step.
Both pools run on the chosen array backend (numpy, or torch on CPU or CUDA); amounts cross this
boundary as numpy (N,) raw units."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from envs.arrays import ArrayBackend
from envs.drivers.base import PriceDriver
from envs.protocols.aave_v3 import pool as aave
from envs.protocols.aave_v3.math_utils import ray_mul
from envs.protocols.aave_v3.reserve_logic import normalized_debt, normalized_income
from envs.protocols.uniswap_v3 import pool as v3
from envs.worlds.block_accounting import LendingBalances
from envs.worlds.lending import (
    AGENT,
    AGENT_ACCOUNT,
    BASE_UNIT,
    BORROWER,
    SWAP_GROUP,
    AaveMarket,
    LendingParams,
    Position,
    check_wallet,
)
from envs.worlds.market import WBTC_PRICE_USD
from envs.worlds.sim import USDC_UNIT, WETH_UNIT, UniswapV3World, V3WorldParams, pool_swap

START_TIME = 0.0  # seconds; only differences matter to interest accrual


class AaveWorld(UniswapV3World, AaveMarket):
    _read: tuple[tuple, Position] | None = None  # (what the last read was keyed on, every account's position)

    def __init__(
        self,
        n: int,
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        lending: LendingParams = LendingParams(),
        backend: ArrayBackend | str = "numpy",
    ):
        super().__init__(n, driver, params, backend)
        self.lending = lending
        reserves = lending.reserve_params()
        self.aave_params = aave.aave_params(self.b.xp, reserves, self.b.device)
        self.symbols = tuple(reserves)
        self._decimals = [r.decimals for r in reserves.values()]
        self.usdc_r, self.weth_r = self.aave_params.index("USDC"), self.aave_params.index("WETH")

    # --- episode ----------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        super().reset(rng, agent_usd)
        start = {"USDC": 1.0, "WBTC": WBTC_PRICE_USD}
        b = self.b
        seeded = np.array(
            [
                [
                    np.floor(self.lending.supply_usd / start.get(s, 1.0) * 10.0**d)
                    for s, d in zip(self.symbols, self._decimals)
                ]
            ]
            * self.n
        )
        seeded[:, self.weth_r] = np.floor(
            self.lending.supply_usd / self._reference * 10.0 ** self._decimals[self.weth_r]
        )
        self.now = b.asarray(np.full(self.n, START_TIME))
        self.crowd = self.lending.borrowers + 1  # the crowd's account, after the scripted borrowers
        self.aave = aave.initial_state(b.xp, self.n, self.crowd + 1, len(self.symbols), START_TIME, b.device)
        self.aave.available_liquidity = b.asarray(seeded)
        self.aave.scaled_atoken_supply = b.asarray(seeded)  # indexes start at 1
        self._base_prices = np.array(
            [[round(start.get(s, 0.0) * BASE_UNIT) for s in self.symbols]] * self.n, dtype=float
        )
        self._update_oracle()
        self.borrower_usdc, self.borrower_weth = np.zeros(self.n), np.zeros(self.n)
        self.reset_borrowers(rng)

    def move_reference(self) -> None:
        super().move_reference()
        self.now = self.now + self.dt
        self._update_oracle()

    def _update_oracle(self) -> None:
        self._base_prices[:, self.weth_r] = np.round(self._reference * BASE_UNIT)
        self._prices = self.b.asarray(self._base_prices)  # (N, R) on the backend, what the Aave pool reads
        self._read = None  # numpy's asarray shares _base_prices, changed in place: the key below can't see it

    def _on(self, x, mask):
        """A numpy amount, zero outside ``mask``, on the backend."""
        return self.b.asarray(np.where(mask, x, 0.0))

    def _mask(self, mask):
        return self.b.asarray(mask, dtype=self.b.xp.bool)

    # --- primitives -------------------------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        return self._base_prices[:, self.weth_r] / BASE_UNIT

    def borrower_wallet(self):
        return self.borrower_usdc / USDC_UNIT, self.borrower_weth / WETH_UNIT

    def fund_borrower(self, weth_raw):
        self.borrower_weth = self.borrower_weth + weth_raw

    def account_positions(self) -> Position:
        """The agent's and the scripted borrowers' positions, (N, 1 + K) each (read-only): a view of ``_every``."""
        every = self._every()
        return Position(*(getattr(every, f.name)[:, : self.lending.borrowers + 1] for f in fields(Position)))

    def _every(self) -> Position:
        """Every Aave account's position (the crowd's last), (N, A) each, read in one batched call and kept
        until the state, the prices or the clock change (every write replaces the state's arrays, so they key it)."""
        key = self._read_key()
        read = self._read
        if read is None or any(a is not b for a, b in zip(read[0], key)):
            supplied, debt, data = aave.all_accounts(self.aave, self.aave_params, self._prices, self.now)
            every = self._position(supplied, debt, data)
            for field in fields(Position):
                getattr(every, field.name).setflags(write=False)  # shared by every read until the next write
            read = self._read = (key, every)
        return read[1]

    def position(self, account: int) -> Position:
        """One account's position: a slice of the batched read while it holds, else a read of this account
        alone (after a write, the next account a loop reads is cheaper alone than with all the others)."""
        read = self._read
        if read is not None and all(a is b for a, b in zip(read[0], self._read_key())):
            return Position(*(getattr(read[1], f.name)[:, account].copy() for f in fields(Position)))
        supplied, debt = aave.balances(self.aave, account, self.now)
        return self._position(
            supplied, debt, aave.account_data(self.aave, self.aave_params, self._prices, account, self.now)
        )

    def _read_key(self) -> tuple:
        """The arrays an account read depends on; a write replaces them (see ``_update_oracle`` for the prices)."""
        s = self.aave
        return (
            s.liquidity_index,
            s.variable_borrow_index,
            s.liquidity_rate,
            s.variable_borrow_rate,
            s.last_update,
            s.scaled_atoken,
            s.scaled_variable_debt_of,
            s.collateral_enabled,
            self._prices,
            self.now,
        )

    def _position(self, supplied, debt, data) -> Position:
        """Backend balances (..., R) and account data (...) as a numpy ``Position``."""
        f = self._np
        return Position(
            f(supplied[..., self.weth_r]),
            f(debt[..., self.usdc_r]),
            f(data.total_collateral_base),
            f(data.total_debt_base),
            f(data.avg_liquidation_threshold) / 1e4,
            f(data.avg_ltv) / 1e4,
            f(data.health_factor),
        )

    def supply(self, account, weth_raw, mask):
        code = self._np(
            aave.supply(
                self.aave, self.aave_params, account, self.weth_r, self._on(weth_raw, mask), self.now, self._mask(mask)
            )
        )
        if account == AGENT_ACCOUNT:
            self.borrower_weth = self.borrower_weth - np.where(mask & (code == 0), weth_raw, 0.0)
        return code

    def withdraw(self, account, weth_raw, mask):
        got, code = (
            self._np(x)
            for x in aave.withdraw(
                self.aave,
                self.aave_params,
                self._prices,
                account,
                self.weth_r,
                self._on(weth_raw, mask),
                self.now,
                self._mask(mask),
            )
        )
        if account == AGENT_ACCOUNT:
            self.borrower_weth = self.borrower_weth + got
        return code

    def borrow(self, account, usdc_raw, mask):
        code = self._np(
            aave.borrow(
                self.aave,
                self.aave_params,
                self._prices,
                account,
                self.usdc_r,
                self._on(usdc_raw, mask),
                self.now,
                self._mask(mask),
            )
        )
        if account == AGENT_ACCOUNT:
            self.borrower_usdc = self.borrower_usdc + np.where(mask & (code == 0), usdc_raw, 0.0)
        return code

    def repay(self, account, usdc_raw, mask):
        paid, code = (
            self._np(x)
            for x in aave.repay(
                self.aave, self.aave_params, account, self.usdc_r, self._on(usdc_raw, mask), self.now, self._mask(mask)
            )
        )
        if account == AGENT_ACCOUNT:
            self.borrower_usdc = self.borrower_usdc - paid
        return paid, code

    def _liquidation_call(self, who, account, mask):
        result = aave.liquidation_call(
            self.aave,
            self.aave_params,
            self._prices,
            account,
            self.weth_r,
            self.usdc_r,
            self.b.asarray(np.full(self.n, np.inf)),
            self.now,
            self._mask(mask),
        )
        return self._np(result.debt_repaid), self._np(result.collateral_to_liquidator), self._np(result.error)

    def lending_balances(self, who, account):
        """The borrower's from its position; the liquidator's as the reserves' cash, negated: no wallet of
        it is kept here, and in a liquidation only its repayment and the collateral it takes move the cash;
        the treasury's as the aWETH no account holds (the seeded supply's and the treasury's: only the
        treasury's moves, by the protocol fee the pool leaves out of the burn)."""
        pos, f, r = self.position(account), self._np, self.weth_r
        cash = f(self.aave.available_liquidity)
        held = f(self.aave.scaled_atoken[:, :, r]).sum(axis=1)
        income = f(normalized_income(self.aave, self.now)[:, r])
        return LendingBalances(
            pos.collateral_weth,
            pos.debt_usdc,
            -cash[:, self.usdc_r],
            -cash[:, r],
            (f(self.aave.scaled_atoken_supply[:, r]) - held) * income,
            self._base_prices[:, self.usdc_r] / BASE_UNIT,
            self._base_prices[:, r] / BASE_UNIT,
        )

    def swap(self, who, sell_usdc, raw, mask):
        b, xp = self.b, self.b.xp
        z41 = b.asarray(sell_usdc, dtype=xp.bool)
        check_wallet(who, self.params.lps)
        before = self._curve_before()
        result = pool_swap(
            self.state,
            self.pool_params,
            z41,
            b.asarray(np.where(mask, raw, 0.0)),
            v3.default_price_limit(z41),
            b.asarray(mask, dtype=xp.bool),
        )
        self._account(SWAP_GROUP[who], np.asarray(sell_usdc, bool), result, before)
        paid, got = self._np(result.amount_in), self._np(result.amount_out)
        usdc_out, weth_out = np.where(sell_usdc, paid, -got), np.where(sell_usdc, -got, paid)
        if who == AGENT:  # the other wallets (liquidators, traders) are tracked by their roles
            self.wallet_usdc, self.wallet_weth = self.wallet_usdc - usdc_out, self.wallet_weth - weth_out
        elif who == BORROWER:
            self.borrower_usdc, self.borrower_weth = self.borrower_usdc - usdc_out, self.borrower_weth - weth_out
        return paid, got

    def _fund_scripted_borrower(self, account, weth_raw, mask):
        pass  # the scripted borrowers bring their WETH from outside the market

    def reserve_usage(self, symbol):
        r = self.aave_params.index(symbol)
        debt = ray_mul(self.aave.scaled_variable_debt[:, r], normalized_debt(self.aave, self.now)[:, r])
        return self._np(self.aave.available_liquidity[:, r]), self._np(debt)

    def _crowd_act(self, action, symbol, raw, mask):
        r, amount, on = self.aave_params.index(symbol), self._on(raw, mask), self._mask(mask)
        if action == "supply":  # the crowd brings its collateral, and repays, from outside the market
            return self._np(aave.supply(self.aave, self.aave_params, self.crowd, r, amount, self.now, on))
        if action == "borrow":
            return self._np(aave.borrow(self.aave, self.aave_params, self._prices, self.crowd, r, amount, self.now, on))
        return self._np(aave.repay(self.aave, self.aave_params, self.crowd, r, amount, self.now, on)[1])

    def _crowd_rebalance(self, symbol, borrow_raw, lend, repay_raw, repay):
        """Both of the crowd's moves in one pool action (``aave.borrow_or_repay``): the same result, one pass."""
        aave.borrow_or_repay(
            self.aave,
            self.aave_params,
            self._prices,
            self.crowd,
            self.aave_params.index(symbol),
            self._on(borrow_raw, lend),
            self._on(repay_raw, repay),
            self.now,
            self._mask(lend),
            self._mask(repay),
        )
