"""The Aave pool component on the simulator: N batched Aave V3 pools (``envs.protocols.aave_v3``) on an array
backend (numpy, or torch on CPU or CUDA), seeded as the local mainnet seeds its market (``supply_usd`` per
reserve), with an oracle the world points and a clock it moves. Amounts cross this boundary as numpy (N,) raw."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from envs.arrays import ArrayBackend
from envs.assets import AaveReserveParams
from envs.protocols.aave_v3 import pool as aave
from envs.protocols.aave_v3.math_utils import ray_mul
from envs.protocols.aave_v3.reserve_logic import normalized_debt, normalized_income
from envs.units import BASE_UNIT, BPS
from envs.worlds.block_accounting import LendingBalances
from envs.worlds.lending_pool import AAVE_GAS, LendingPool, Position, aave_liquidation_terms
from envs.worlds.market import WBTC_PRICE_USD

START_TIME = 0.0  # seconds; only differences matter to interest accrual


class SimAavePool(LendingPool):
    """``accounts`` Aave accounts in each of ``n`` worlds over ``reserves`` (the 2025-03-19 parameters, or their
    calibrated rate curves)."""

    GAS = AAVE_GAS

    _read: tuple[tuple, Position] | None = None  # (what the last read was keyed on, every account's position)

    def __init__(
        self, n: int, reserves: dict[str, AaveReserveParams], supply_usd: float, accounts: int, backend: ArrayBackend
    ):
        self.n, self.b, self.supply_usd, self.accounts = n, backend, supply_usd, accounts
        self.params = aave.aave_params(backend.xp, reserves, backend.device)
        self.symbols = tuple(reserves)
        self._decimals = [r.decimals for r in reserves.values()]
        self.usdc_r, self.weth_r = self.params.index("USDC"), self.params.index("WETH")

    def reset(self, usd_per_weth: np.ndarray) -> None:
        """Every reserve seeded with ``supply_usd`` (WETH at ``usd_per_weth``), no account holding anything, the
        oracle at the start prices, the clock at its start."""
        start = {"USDC": 1.0, "WBTC": WBTC_PRICE_USD}
        b = self.b
        seeded = np.array(
            [[np.floor(self.supply_usd / start.get(s, 1.0) * 10.0**d) for s, d in zip(self.symbols, self._decimals)]]
            * self.n
        )
        seeded[:, self.weth_r] = np.floor(self.supply_usd / usd_per_weth * 10.0 ** self._decimals[self.weth_r])
        self.now = b.asarray(np.full(self.n, START_TIME))
        self.state = aave.initial_state(b.xp, self.n, self.accounts, len(self.symbols), START_TIME, b.device)
        self.state.available_liquidity = b.asarray(seeded)
        self.state.scaled_atoken_supply = b.asarray(seeded)  # indexes start at 1
        self._base_prices = np.array(
            [[round(start.get(s, 0.0) * BASE_UNIT) for s in self.symbols]] * self.n, dtype=float
        )
        self.set_oracle_price(usd_per_weth)

    def advance(self, seconds: float) -> None:
        """The pool's clock moves ``seconds``: interest accrues at the next action or read."""
        self.now = self.now + seconds

    def set_oracle_price(self, usd_per_weth: np.ndarray) -> None:
        self._base_prices[:, self.weth_r] = np.round(usd_per_weth * BASE_UNIT)
        self._prices = self.b.asarray(self._base_prices)  # (N, R) on the backend, what the Aave pool reads
        self._read = None  # numpy's asarray shares _base_prices, changed in place: the key below can't see it

    def _np(self, x) -> np.ndarray:
        return self.b.to_numpy(x)

    # --- reads ------------------------------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        return self._base_prices[:, self.weth_r] / BASE_UNIT

    def positions(self, accounts: int) -> Position:
        """Accounts 0..``accounts`` - 1, (N, accounts) each (read-only): a view of ``_every``."""
        every = self._every()
        return Position(*(getattr(every, f.name)[:, :accounts] for f in fields(Position)))

    def _every(self) -> Position:
        """Every Aave account's position (the crowd's last), (N, A) each, read in one batched call and kept
        until the state, the prices or the clock change (every write replaces the state's arrays, so they key it)."""
        key = self._read_key()
        read = self._read
        if read is None or any(a is not b for a, b in zip(read[0], key)):
            supplied, debt, data = aave.all_accounts(self.state, self.params, self._prices, self.now)
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
        supplied, debt = aave.balances(self.state, account, self.now)
        return self._position(
            supplied, debt, aave.account_data(self.state, self.params, self._prices, account, self.now)
        )

    def _read_key(self) -> tuple:
        """The arrays an account read depends on; a write replaces them (see ``set_oracle_price`` for the prices)."""
        s = self.state
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
            f(data.avg_liquidation_threshold) / BPS,
            f(data.avg_ltv) / BPS,
            f(data.health_factor),
        )

    def lending_balances(self, who, account):
        """The borrower's from its position; the liquidator's as the reserves' cash, negated: no wallet of
        it is kept here, and in a liquidation only its repayment and the collateral it takes move the cash;
        the treasury's as the aWETH no account holds (the seeded supply's and the treasury's: only the
        treasury's moves, by the protocol fee the pool leaves out of the burn)."""
        pos, f, r = self.position(account), self._np, self.weth_r
        cash = f(self.state.available_liquidity)
        held = f(self.state.scaled_atoken[:, :, r]).sum(axis=1)
        income = f(normalized_income(self.state, self.now)[:, r])
        return LendingBalances(
            pos.collateral_weth,
            pos.debt_usdc,
            -cash[:, self.usdc_r],
            -cash[:, r],
            (f(self.state.scaled_atoken_supply[:, r]) - held) * income,
            self._base_prices[:, self.usdc_r] / BASE_UNIT,
            self._base_prices[:, r] / BASE_UNIT,
            np.zeros(self.n),  # Aave writes no debt off against its lenders
        )

    def liquidation_terms(self, every):
        return aave_liquidation_terms(every)

    def reserve_usage(self, symbol):
        r = self.params.index(symbol)
        debt = ray_mul(self.state.scaled_variable_debt[:, r], normalized_debt(self.state, self.now)[:, r])
        return self._np(self.state.available_liquidity[:, r]), self._np(debt)

    # --- actions ----------------------------------------------------------------------------
    def supply(self, account, weth_raw, mask):
        return self._np(
            aave.supply(
                self.state,
                self.params,
                account,
                self.weth_r,
                self.b.masked(weth_raw, mask),
                self.now,
                self.b.flags(mask),
            )
        )

    def withdraw(self, account, weth_raw, mask):
        got, code = aave.withdraw(
            self.state,
            self.params,
            self._prices,
            account,
            self.weth_r,
            self.b.masked(weth_raw, mask),
            self.now,
            self.b.flags(mask),
        )
        return self._np(got), self._np(code)

    def borrow(self, account, usdc_raw, mask):
        return self._np(
            aave.borrow(
                self.state,
                self.params,
                self._prices,
                account,
                self.usdc_r,
                self.b.masked(usdc_raw, mask),
                self.now,
                self.b.flags(mask),
            )
        )

    def repay(self, account, usdc_raw, mask):
        paid, code = aave.repay(
            self.state, self.params, account, self.usdc_r, self.b.masked(usdc_raw, mask), self.now, self.b.flags(mask)
        )
        return self._np(paid), self._np(code)

    def liquidation_call(self, who, account, mask):
        result = aave.liquidation_call(
            self.state,
            self.params,
            self._prices,
            account,
            self.weth_r,
            self.usdc_r,
            self.b.asarray(np.full(self.n, np.inf)),
            self.now,
            self.b.flags(mask),
        )
        return self._np(result.debt_repaid), self._np(result.collateral_to_liquidator), self._np(result.error)

    def fund_account(self, account, weth_raw, mask):
        pass  # the scripted borrowers bring their WETH from outside the market

    def crowd_act(self, account, action, symbol, raw, mask):
        r, amount, on = self.params.index(symbol), self.b.masked(raw, mask), self.b.flags(mask)
        if action == "supply":
            return self._np(aave.supply(self.state, self.params, account, r, amount, self.now, on))
        if action == "borrow":
            return self._np(aave.borrow(self.state, self.params, self._prices, account, r, amount, self.now, on))
        return self._np(aave.repay(self.state, self.params, account, r, amount, self.now, on)[1])

    def crowd_rebalance(self, account, symbol, borrow_raw, lend, repay_raw, repay):
        """Both of the crowd's moves in one pool action (``aave.borrow_or_repay``): the same result, one pass."""
        aave.borrow_or_repay(
            self.state,
            self.params,
            self._prices,
            account,
            self.params.index(symbol),
            self.b.masked(borrow_raw, lend),
            self.b.masked(repay_raw, repay),
            self.now,
            self.b.flags(lend),
            self.b.flags(repay),
        )
