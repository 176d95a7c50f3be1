"""A fresh Uniswap V3 pool on pyrevm and the same pool in the simulator, driven together, for the
parity tests at the edges (bounds, boundaries, drained pools, every fee tier) and the fuzz."""

from __future__ import annotations

import numpy as np

from envs.arrays import ArrayBackend, array_backend
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.contract import Contract
from envs.contracts.market import Market
from envs.contracts.state_reader import read_v3_pool, v3_pool_state
from envs.contracts.tokens import Token
from envs.evm.chain import TransactionReverted
from envs.protocols.uniswap_v3 import errors
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.liquidity_amounts import get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from tests.parity import assert_close

TRADER, LP, BACKGROUND = DEV_ACCOUNTS[2], DEV_ACCOUNTS[3], DEV_ACCOUNTS[9]
MIN_LIMIT_X96 = 4295128739 + 1  # TickMath.MIN_SQRT_RATIO + 1
MAX_LIMIT_X96 = 1461446703485210103287273052203988822378723970342 - 1  # TickMath.MAX_SQRT_RATIO - 1


def _price_uncertainty(sqrt_price: float) -> float:
    """What a sqrt price can be off by: 8 float ulps, or 4 units of Q64.96 where those are coarser
    (below tick ~-600,000, where sqrtPriceX96 has fewer than 53 bits)."""
    return max(8 * 2.0**-52 * sqrt_price, 4 / 2**96)


def fund(market: Market) -> None:
    """Give the trader, the LP and the background LP plenty of every token, approved where they spend it."""
    for token in market.tokens.values():
        for who, spender in (
            (TRADER, market.v3.router.address),
            (LP, market.v3.position_manager.address),
            (BACKGROUND, market.v3.position_manager.address),
        ):
            token.mint(who, 10**40)
            token.approve(who, spender)


class PoolTwin:
    """One pool on chain (created fresh at ``sqrt_price_x96``) and in the simulator (one world).

    Liquidity minted with ``background`` before ``load`` is the pool's own as the simulator imports
    it; ``mint``/``burn`` afterwards go through the position manager and a simulator position slot
    each. Every operation asserts that both sides either agree (amounts within 1e-9 or 2 raw
    units) or revert with the same code.
    """

    def __init__(self, market: Market, symbols: tuple[str, str], fee: int, sqrt_price_x96: int):
        a, b = (market.tokens[s] for s in symbols)
        self.m, self.fee = market, fee
        self.token0, self.token1 = sorted((a, b), key=lambda t: int(t.address, 16))
        self.pool: Contract = market.v3.create_pool(self.token0, self.token1, fee, sqrt_price_x96)
        self.token_ids: dict[int, int] = {}
        self.held: dict[int, float] = {}  # slot -> the most liquidity its position has had
        self.owed_slack: dict[int, list[float]] = {}  # slot -> tolerance its burns' amounts passed with
        self.b: ArrayBackend | None = None
        #: also allow the float resolution of the sqrt price in swap amounts (see ``_price_resolution``)
        self.at_price_resolution = False

    # --- setup ------------------------------------------------------------------------------
    def background(self, lower: int, upper: int, raw0: int, raw1: int) -> int:
        return self.m.v3.mint(BACKGROUND, self.token0, self.token1, self.fee, lower, upper, raw0, raw1).liquidity

    def load(self, backend: str = "numpy", slots: int = 4) -> None:
        self.b = array_backend(backend, "cpu")
        self.params, self.state = v3_pool_state(
            read_v3_pool(self.pool), self.b.xp, 1, max_positions=slots, device=self.b.device
        )

    def _f(self, x: float):
        return self.b.asarray(np.array([float(x)]))

    def _i(self, x: int):
        return self.b.asarray(np.array([int(x)]), dtype=self.b.xp.int64)

    def _one(self, flag: bool):
        return self.b.asarray(np.array([flag]), dtype=self.b.xp.bool)

    def _np(self, x) -> float:
        return float(self.b.to_numpy(x)[0])

    # --- operations -------------------------------------------------------------------------
    def swap(self, zero_for_one: bool, raw: int | None, limit_x96: int | None = None) -> int:
        """Exact input ``raw`` (None: all the trader has, which reaches the limit unless the pool is deep
        beyond it); returns the shared code."""
        tin, tout = (self.token0, self.token1) if zero_for_one else (self.token1, self.token0)
        if raw is not None and tin.balance_of(TRADER) < raw:
            tin.mint(TRADER, raw)  # the trader can always pay what it swaps
        raw_chain = tin.balance_of(TRADER) if raw is None else raw
        limit_x96 = (MIN_LIMIT_X96 if zero_for_one else MAX_LIMIT_X96) if limit_x96 is None else limit_x96
        try:
            out, event = self.m.v3.exact_input_single(
                TRADER, tin, tout, self.fee, raw_chain, sqrt_price_limit_x96=limit_x96
            )
            code = errors.OK
        except TransactionReverted as err:
            code = errors.code_of_reason(err.reason)
        before = (self._np(self.state.liquidity), self._np(self.state.sqrt_price))
        r = v3.swap(
            self.state,
            self.params,
            self._one(zero_for_one),
            self._f(raw_chain),
            self._f(limit_x96 / 2**96),
            self._one(True),
        )
        units0, units1 = self._price_resolution(before)
        assert int(self.b.to_numpy(r.error)[0]) == code, f"swap: simulator code {int(r.error[0])}, chain {code}"
        if code == errors.OK:
            units_in, units_out = (units0, units1) if zero_for_one else (units1, units0)
            assert_close("swap amount out", self._np(r.amount_out), out, units=units_out)
            paid = event["amount0"] if zero_for_one else event["amount1"]
            assert_close("swap amount in", self._np(r.amount_in), paid, units=units_in)
        return code

    def _within_float_of_boundary(self, sim_tick: int, chain_tick: int) -> bool:
        """In the stress regime a tick one off is the float's resolution when the simulator's price is
        within 8 ulps of the boundary between the two ticks (the chain's Q64.96 price is on the other
        side of it by less than a float can tell)."""
        if not self.at_price_resolution or abs(sim_tick - chain_tick) != 1:
            return False
        boundary = float(self.b.to_numpy(get_sqrt_ratio_at_tick(self._i(max(sim_tick, chain_tick))))[0])
        return abs(self._np(self.state.sqrt_price) - boundary) <= _price_uncertainty(boundary)

    def _price_resolution(self, before: tuple[float, float]) -> tuple[float, float]:
        """Raw units of (token0, token1) the sqrt price's uncertainty is worth at the liquidity in play:
        L * d / s**2 and L * d. A step that ends on a tick after moving the price a few ulps cannot do
        better in float64; 2 raw units otherwise."""
        if not self.at_price_resolution:
            return 2.0, 2.0
        liquidity = max(before[0], self._np(self.state.liquidity))  # the pool's, or the burned position's
        prices = (before[1], self._np(self.state.sqrt_price))
        return (
            max(2.0, max(liquidity * _price_uncertainty(s) / s**2 for s in prices)),
            max(2.0, max(liquidity * _price_uncertainty(s) for s in prices)),
        )

    def mint(self, slot: int, lower: int, upper: int, raw0: int, raw1: int) -> int:
        """Open a position with at most ``raw0``/``raw1``; the slot must be free."""
        try:
            position = self.m.v3.mint(LP, self.token0, self.token1, self.fee, lower, upper, raw0, raw1)
            code = errors.OK
        except TransactionReverted as err:
            code, position = errors.code_of_reason(err.reason), None
        s = self.state
        liquidity = get_liquidity_for_amounts(
            s.sqrt_price,
            get_sqrt_ratio_at_tick(self._i(lower)),
            get_sqrt_ratio_at_tick(self._i(upper)),
            self._f(raw0),
            self._f(raw1),
        )
        sim_liquidity = self.b.xp.floor(liquidity)
        if position is not None:
            assert_close("minted liquidity", self._np(sim_liquidity), position.liquidity)
            sim_liquidity = self._f(position.liquidity)
        a0, a1, sim_code = v3.mint(
            s, self.params, self._i(slot), self._i(lower), self._i(upper), sim_liquidity, self._one(True)
        )
        assert int(self.b.to_numpy(sim_code)[0]) == code, f"mint: simulator code {int(sim_code[0])}, chain {code}"
        if position is not None:
            self.token_ids[slot] = position.token_id
            self.held[slot] = float(position.liquidity)
            assert_close("mint amount0", float(np.ceil(self._np(a0))), position.amount0)
            assert_close("mint amount1", float(np.ceil(self._np(a1))), position.amount1)
        return code

    def burn(self, slot: int, percent: int) -> None:
        token_id = self.token_ids[slot]
        held = self.m.v3.position(token_id)["liquidity"]
        # a float position burned in parts keeps the rounding of its largest size (above 2**53)
        units = max(2.0, 4 * 2.0**-52 * self.held.get(slot, 0.0)) if self.at_price_resolution else 2.0
        assert_close("position liquidity", self._np(self.state.position_liquidity[:, slot]), held, units=units)
        liquidity = held * percent // 100
        if liquidity == 0:  # the position manager requires a positive amount; nothing to compare
            return
        c0, c1 = self.m.v3.decrease_liquidity(LP, token_id, liquidity)
        s = self.state
        units0, units1 = self._price_resolution((float(liquidity), self._np(s.sqrt_price)))
        a0, a1 = v3.modify_position(
            s,
            self.params,
            self._i(slot),
            s.position_lower[:, slot],
            s.position_upper[:, slot],
            self._f(-float(liquidity)),
            self._one(True),
        )
        assert_close("burn amount0", self._np(a0), c0, units=units0)
        assert_close("burn amount1", self._np(a1), c1, units=units1)
        slack = self.owed_slack.setdefault(slot, [0.0, 0.0])  # the burned amounts become owed, collected later
        slack[0] += units0 if units0 > 2 else 0.0
        slack[1] += units1 if units1 > 2 else 0.0

    def collect(self, slot: int) -> None:
        c0, c1 = self.m.v3.collect(LP, self.token_ids[slot])
        units = self._fee_resolution(slot)
        slack = self.owed_slack.pop(slot, [0.0, 0.0])
        s0, s1 = v3.collect_all(self.state, self.params, self._i(slot), self._one(True))
        assert_close("collected token0", self._np(s0), c0, units=units[0] + slack[0])
        assert_close("collected token1", self._np(s1), c1, units=units[1] + slack[1])

    def _fee_resolution(self, slot: int) -> tuple[float, float]:
        """Raw units a position's fees can be off by in float64: fee growth per unit of liquidity is
        resolved to an ulp of the largest fee-growth value (after a swap to the price bounds that
        is huge), times the position's liquidity, times 8; 4 raw units otherwise (principal and fees
        each round once more)."""
        if not self.at_price_resolution:
            return 4.0, 4.0
        s, out = self.state, []
        for k in ("0", "1"):
            scale = max(
                abs(self._np(getattr(s, f"fee_growth_global{k}"))),
                float(np.max(np.abs(self.b.to_numpy(getattr(s, f"fee_growth_outside{k}"))))),
            )
            out.append(max(4.0, 8 * 2.0**-52 * scale * self.held.get(slot, 0.0)))
        return out[0], out[1]

    # --- checks -----------------------------------------------------------------------------
    def initialized_ticks(self) -> set[int]:
        """The simulator's initialized ticks (its row without the sentinels and pads)."""
        row = self.b.to_numpy(self.state.ticks)[0]
        return {int(t) for t in row if v3.LOW_SENTINEL < t < v3.PAD}

    def check(self, candidate_ticks=()) -> None:
        """slot0 and active liquidity agree; of ``candidate_ticks`` the same are initialized."""
        sqrt_price_x96, tick, *_ = self.pool.call("slot0")
        assert_close("sqrt price", self._np(self.state.sqrt_price), sqrt_price_x96 / 2**96, units=0)
        sim_tick = int(self.b.to_numpy(self.state.tick)[0])
        assert sim_tick == tick or self._within_float_of_boundary(sim_tick, tick), (
            f"tick: simulator {sim_tick}, chain {tick}"
        )
        assert_close("active liquidity", self._np(self.state.liquidity), self.pool.call("liquidity"))
        on_chain = {t for t in candidate_ticks if self.pool.call("ticks", t)[-1]}
        in_sim = self.initialized_ticks() & set(candidate_ticks)
        assert in_sim == on_chain, f"initialized ticks: simulator {sorted(in_sim)}, chain {sorted(on_chain)}"


def token(market: Market, symbol: str) -> Token:
    return market.tokens[symbol]
