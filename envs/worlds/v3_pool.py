"""The Uniswap V3 USDC/WETH pool as a component of a world: one interface over N worlds for everything the worlds
and roles do with it: its reads (sqrt price = sqrtPriceX96 / 2**96, tick, active liquidity, the initialized ticks
a move crossed and, on a chain, its time-weighted price), exact-input swaps from a wallet, and each wallet slot's
position (mint, fees, withdraw). The simulator's side runs the batched pool (``envs.protocols.uniswap_v3``); a
chain's runs the real pool through the SwapRouter and NonfungiblePositionManager, for the chain worlds and the
live adapter alike. Amounts are raw (USDC token0, 6 decimals; WETH token1, 18), (N,) float64.

Wallets are a slot (an int: an LP agent's or a scripted trader's) or a scripted account's name (a str). The
component moves tokens; the world books its own wallets (on a chain the tokens themselves moved)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import numpy as np

from envs.arrays import ArrayBackend
from envs.contracts.contract import Contract
from envs.contracts.tokens import Token
from envs.contracts.uniswap_v3 import UniswapV3
from envs.evm.chain import TransactionReverted
from envs.liquidity_profile import LiquidityProfile, profile_ticks
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3 import swap_kernel
from envs.protocols.uniswap_v3.liquidity_amounts import get_amounts_for_liquidity, get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO_X96,
    MIN_SQRT_RATIO_X96,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)
from envs.units import MAX_UINT128, Q96, TICK_SPACING, USDC_UNIT, WETH_UNIT, held_amount
from envs.worlds.block_accounting import CurvePoint

Wallet = int | str  # a wallet slot, or a scripted account's name


def pool_swap(
    state: v3.V3PoolState, params: v3.V3PoolParams, zero_for_one, amount_in, sqrt_price_limit, active
) -> v3.SwapResult:
    """A swap on the batched pool: the compiled kernel for numpy states (bit-identical to the array code and faster
    at every batch size on a CPU, ``benchmarks/sim_throughput.py``), the array code for torch."""
    swap = swap_kernel.swap if swap_kernel.applies(state) else v3.swap
    return swap(state, params, zero_for_one, amount_in, sqrt_price_limit, active)


def pool_fees(state: v3.V3PoolState, slot) -> tuple:
    """A position's fees owed (raw token0, token1), on the same path as ``pool_swap``."""
    return (swap_kernel.position_fees if swap_kernel.applies(state) else v3.position_fees)(state, slot)


class UniswapV3Pool(ABC):
    """The pool in N worlds (USDC is token0): what every backend gives the same way, (N,) numpy each."""

    n: int

    @abstractmethod
    def sqrt_price(self) -> np.ndarray: ...

    @abstractmethod
    def tick(self) -> np.ndarray: ...

    @abstractmethod
    def liquidity(self) -> np.ndarray:
        """The active liquidity, raw."""

    @abstractmethod
    def crossed_ticks(self, before: CurvePoint, after: CurvePoint) -> tuple[np.ndarray, np.ndarray]:
        """(N, K) initialized ticks, sorted, with their liquidityNet: at least those a move from ``before`` to
        ``after`` crossed (``block_accounting.reserves_moved`` prices only those)."""

    def curve_point(self) -> CurvePoint:
        """Where the pool stands on its liquidity curve: sqrt price, tick, active liquidity."""
        return CurvePoint(self.sqrt_price(), self.tick(), self.liquidity())

    def price(self) -> np.ndarray:
        """USD per WETH at the pool's price (raw WETH per raw USDC is the sqrt price squared)."""
        s = self.sqrt_price()
        return WETH_UNIT / USDC_UNIT / (s * s)

    # --- swaps ------------------------------------------------------------------------------
    @abstractmethod
    def swap(
        self,
        wallet: Wallet,
        sell_usdc: np.ndarray,
        raw: np.ndarray,
        limit: np.ndarray | None,
        mask: np.ndarray,
        min_out: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap of ``raw`` (inf: as much as reaches ``limit``) from ``wallet`` in masked worlds, up
        to the sqrt price ``limit`` (None: the pool's bounds); returns (paid, got). ``min_out`` is the swap's
        amountOutMinimum on a chain (the simulator's flow never falls below it: the sandwich leaves it)."""

    @abstractmethod
    def trial(self) -> AbstractContextManager[None]:
        """A context in which swaps are tried and undone at its end (quotes, a sandwich's trial legs)."""

    # --- positions: one per wallet slot -----------------------------------------------------
    @abstractmethod
    def position(self, slot: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower tick, upper tick, liquidity raw) of ``slot``'s position (0 liquidity: none)."""

    def position_tokens(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) raw ``slot``'s liquidity is worth at the pool's price, fees excluded."""
        lower, upper, liquidity = self.position(slot)
        return get_amounts_for_liquidity(
            self.sqrt_price(), get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper), liquidity
        )

    @abstractmethod
    def fees_owed(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) raw fees ``slot``'s position has earned and not collected."""

    @abstractmethod
    def withdraw(self, slot: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """In masked worlds: ``slot``'s position's liquidity and fees back to its wallet, the position closed.
        Returns (had a position?, USDC got, WETH got)."""

    @abstractmethod
    def mint(
        self, slot: int, lower: np.ndarray, upper: np.ndarray, usdc_raw: np.ndarray, weth_raw: np.ndarray, mask
    ) -> tuple[np.ndarray, np.ndarray]:
        """In masked worlds: ``slot`` opens [lower, upper) with the most liquidity these amounts buy at the pool's
        price (a mint too small for any liquidity is refused, as the contract refuses it). Returns (USDC, WETH)
        used."""


class SimUniswapV3Pool(UniswapV3Pool):
    """N pools' batched state (``state`` and its ``params``, which the world lays at reset: ``seed``, or a pool read
    from a chain)."""

    state: v3.V3PoolState

    def __init__(self, n: int, backend: ArrayBackend, params: v3.V3PoolParams):
        self.n, self.b, self.params = n, backend, params
        self._slots: dict[int, object] = {}

    def seed(self, reference_usd: np.ndarray, value_usd: float, profile: LiquidityProfile) -> None:
        """Each world's pool at its own reference price (USD per WETH, (N,)), ``value_usd`` laid over ``profile``'s
        ranges around it, half USDC, half WETH each, as ``build_market`` mints a chain's."""
        b, xp = self.b, self.b.xp
        sqrt_start = b.asarray(np.floor(np.sqrt(WETH_UNIT / USDC_UNIT / reference_usd) * Q96) / Q96)
        center = get_tick_at_sqrt_ratio(sqrt_start)
        ticks, nets = [], []
        for half_width, share in profile:
            lower, upper = profile_ticks(center, self.params.tick_spacing, half_width)
            usd = value_usd * share
            liquidity = xp.floor(
                get_liquidity_for_amounts(
                    sqrt_start,
                    get_sqrt_ratio_at_tick(lower),
                    get_sqrt_ratio_at_tick(upper),
                    b.asarray(np.full(self.n, np.floor(usd / 2 * USDC_UNIT))),
                    b.asarray(np.floor(usd / 2 / reference_usd * WETH_UNIT)),
                )
            )
            ticks += [lower, upper]
            nets += [liquidity, -liquidity]
        ticks, nets = xp.stack(ticks, axis=1), xp.stack(nets, axis=1)
        order = xp.argsort(ticks, axis=1, stable=True)
        ticks, nets = xp.take_along_axis(ticks, order, axis=1), xp.take_along_axis(nets, order, axis=1)
        # ranges sharing a tick (the default profile's narrowest two at the 1% tier's spacing) stay two entries of the
        # tick table, which a swap crosses as the one tick they make together
        self.state = v3.from_arrays(xp, self.params, sqrt_start, ticks, nets, b.device)

    def sqrt_price(self) -> np.ndarray:
        return self.b.to_numpy(self.state.sqrt_price)

    def tick(self) -> np.ndarray:
        return self.b.to_numpy(self.state.tick)

    def liquidity(self) -> np.ndarray:
        return self.b.to_numpy(self.state.liquidity)

    def crossed_ticks(self, before, after):
        """The whole tick table: a batched read costs less than picking the crossed ones per world."""
        return self.b.to_numpy(self.state.ticks), self.b.to_numpy(self.state.liquidity_net)

    def swap(self, wallet, sell_usdc, raw, limit, mask, min_out=None):
        b = self.b
        z41 = b.flags(sell_usdc)
        result = pool_swap(
            self.state,
            self.params,
            z41,
            b.asarray(np.where(mask, raw, 0.0)),
            v3.default_price_limit(z41) if limit is None else b.asarray(limit),
            b.flags(mask),
        )
        return b.to_numpy(result.amount_in), b.to_numpy(result.amount_out)

    @contextmanager
    def trial(self) -> Iterator[None]:
        """Swaps on a copy of the state."""
        state = self.state
        self.state = state.copy()
        try:
            yield
        finally:
            self.state = state

    def _slot(self, slot: int):
        """(N,) the slot's index, on the backend."""
        if slot not in self._slots:
            self._slots[slot] = self.b.xp.full((self.n,), slot, dtype=self.b.xp.int64, device=self.b.device)
        return self._slots[slot]

    def position(self, slot):
        s, np_ = self.state, self.b.to_numpy
        return np_(s.position_lower[:, slot]), np_(s.position_upper[:, slot]), np_(s.position_liquidity[:, slot])

    def position_tokens(self, slot):
        """On the backend, as the pool's batch runs."""
        s = self.state
        a0, a1 = get_amounts_for_liquidity(
            s.sqrt_price,
            get_sqrt_ratio_at_tick(s.position_lower[:, slot]),
            get_sqrt_ratio_at_tick(s.position_upper[:, slot]),
            s.position_liquidity[:, slot],
        )
        return self.b.to_numpy(a0), self.b.to_numpy(a1)

    def fees_owed(self, slot):
        f0, f1 = pool_fees(self.state, self._slot(slot))
        return self.b.to_numpy(f0), self.b.to_numpy(f1)

    def withdraw(self, slot, mask):
        s, b = self.state, self.b
        had = (b.to_numpy(s.position_liquidity[:, slot]) > 0) & mask
        if not had.any():
            return had, np.zeros(self.n), np.zeros(self.n)
        held, index = b.flags(had), self._slot(slot)
        v3.modify_position(
            s,
            self.params,
            index,
            s.position_lower[:, slot],
            s.position_upper[:, slot],
            -s.position_liquidity[:, slot],
            held,
        )
        got0, got1 = v3.collect_all(s, self.params, index, held)
        return had, b.to_numpy(got0), b.to_numpy(got1)

    def mint(self, slot, lower, upper, usdc_raw, weth_raw, mask):
        b, xp, s = self.b, self.b.xp, self.state
        lower_b, upper_b = b.asarray(lower, dtype=xp.int64), b.asarray(upper, dtype=xp.int64)
        liquidity = xp.floor(
            get_liquidity_for_amounts(
                s.sqrt_price,
                get_sqrt_ratio_at_tick(lower_b),
                get_sqrt_ratio_at_tick(upper_b),
                b.asarray(usdc_raw),
                b.asarray(weth_raw),
            )
        )
        a0, a1, _ = v3.mint(s, self.params, self._slot(slot), lower_b, upper_b, liquidity, b.flags(mask))
        return np.where(mask, np.ceil(b.to_numpy(a0)), 0.0), np.where(mask, np.ceil(b.to_numpy(a1)), 0.0)


class ChainUniswapV3Pool(UniswapV3Pool):
    """One world's pool on a chain: the USDC/WETH ``pool`` of ``fee_pips``, traded and minted through ``v3``'s
    SwapRouter and NonfungiblePositionManager from the account ``address(wallet)`` names. Each slot's position is
    an NFT (``token_ids``)."""

    n = 1
    #: set: every swap carries amountOutMinimum = its quote x (1 - max_slippage) (the live adapter's guard)
    max_slippage: float | None = None

    def __init__(
        self, v3_contracts: UniswapV3, pool: Contract, usdc: Token, weth: Token, fee_pips: int, address: Callable
    ):
        self.v3, self.pool, self.usdc, self.weth, self.address = v3_contracts, pool, usdc, weth, address
        self.fee_pips, self.tick_spacing = fee_pips, TICK_SPACING[fee_pips]
        self.token_ids: dict[int, int] = {}

    def curve_point(self) -> CurvePoint:
        """Read with one slot0 call."""
        sqrt_x96, tick, *_ = self.pool.call("slot0")
        return CurvePoint(np.array([sqrt_x96 / Q96]), np.array([tick]), np.array([float(self.pool.call("liquidity"))]))

    def sqrt_price_x96(self) -> int:
        """slot0's sqrtPriceX96, exact."""
        return self.pool.call("slot0")[0]

    def sqrt_price(self) -> np.ndarray:
        return np.array([self.sqrt_price_x96() / Q96])

    def tick(self) -> np.ndarray:
        return np.array([self.pool.call("slot0")[1]])

    def liquidity(self) -> np.ndarray:
        return np.array([float(self.pool.call("liquidity"))])

    def crossed_ticks(self, before, after):
        """Read from the pool's tickBitmap words between the two ticks only."""
        spacing = self.tick_spacing
        low, high = sorted((int(before.tick[0]), int(after.tick[0])))
        ticks = []
        for word in range((low // spacing) >> 8, ((high // spacing) >> 8) + 1):
            bits = self.pool.call("tickBitmap", word)
            ticks += [((word << 8) + bit) * spacing for bit in range(256) if bits >> bit & 1]
        ticks = [t for t in ticks if low < t <= high]
        nets = [float(self.pool.call("ticks", t)[1]) for t in ticks]
        return np.array([ticks], dtype=np.int64).reshape(1, -1), np.array([nets]).reshape(1, -1)

    def twap_usd(self, window_s: int, now: int) -> float | None:
        """USD per WETH at the pool's time-weighted average tick over the last ``window_s`` seconds (pool.observe),
        or over as much history as its observations hold at block time ``now``; None when they hold none
        (cardinality 1 and a swap in the latest block): there is nothing to compare the spot price with."""
        seconds = window_s
        try:
            cumulatives, _ = self.pool.call("observe", [seconds, 0])
        except TransactionReverted:  # "OLD": the oldest observation is younger than the window
            _, _, index, cardinality, _, _, _ = self.pool.call("slot0")
            oldest = self.pool.call("observations", (index + 1) % cardinality)
            if not oldest[3]:  # not initialized: the ring has not wrapped yet, observation 0 is the oldest
                oldest = self.pool.call("observations", 0)
            seconds = now - oldest[0]
            if seconds <= 0:
                return None
            cumulatives, _ = self.pool.call("observe", [seconds, 0])
        tick = (cumulatives[1] - cumulatives[0]) / seconds
        return float(WETH_UNIT / USDC_UNIT / 1.0001**tick)

    # --- swaps ------------------------------------------------------------------------------
    def swap(self, wallet, sell_usdc, raw, limit, mask, min_out=None):
        """Through the SwapRouter, ``raw`` no more than the account holds (``held_amount``; inf: all of it); a limit
        at the pool's bounds is the router's default (0)."""
        if not mask[0] or raw[0] <= 0:
            return np.zeros(1), np.zeros(1)
        who, sell = self.address(wallet), bool(sell_usdc[0])
        token_in, token_out = (self.usdc, self.weth) if sell else (self.weth, self.usdc)
        amount = held_amount(raw[0], token_in.balance_of(who))
        limit_x96 = 0 if limit is None else int(limit[0] * Q96)
        if not MIN_SQRT_RATIO_X96 < limit_x96 < MAX_SQRT_RATIO_X96:
            limit_x96 = 0
        minimum = 0 if min_out is None else int(min_out[0])
        if self.max_slippage is not None:
            quote = self.v3.quote_exact_input_single(token_in, token_out, self.fee_pips, amount, limit_x96)
            minimum = max(minimum, int(quote["amount_out"] * (1 - self.max_slippage)))
        got, event = self.v3.exact_input_single(who, token_in, token_out, self.fee_pips, amount, minimum, limit_x96)
        return np.array([float(event["amount0"] if sell else event["amount1"])]), np.array([float(got)])

    @contextmanager
    def trial(self) -> Iterator[None]:
        """The chain's snapshot, reverted to."""
        chain = self.pool.chain
        snapshot = chain.snapshot()
        try:
            yield
        finally:
            chain.revert(snapshot)

    # --- positions --------------------------------------------------------------------------
    def _position(self, slot: int) -> dict | None:
        token_id = self.token_ids.get(slot)
        return None if token_id is None else self.v3.position(token_id)

    def position(self, slot):
        pos = self._position(slot)
        if pos is None:
            return np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1)
        return np.array([pos["tickLower"]]), np.array([pos["tickUpper"]]), np.array([float(pos["liquidity"])])

    def fees_owed(self, slot):
        """What collect would pay now."""
        token_id = self.token_ids.get(slot)
        if token_id is None:
            return np.zeros(1), np.zeros(1)
        who = self.address(slot)
        owed0, owed1 = self.v3.position_manager.call("collect", (token_id, who, MAX_UINT128, MAX_UINT128), sender=who)
        return np.array([float(owed0)]), np.array([float(owed1)])

    def withdraw(self, slot, mask):
        """decreaseLiquidity to 0, collect, burn the NFT."""
        token_id = self.token_ids.get(slot)
        if not mask[0] or token_id is None:
            return np.zeros(1, bool), np.zeros(1), np.zeros(1)
        who = self.address(slot)
        liquidity = self.v3.position(token_id)["liquidity"]
        if liquidity > 0:
            self.v3.decrease_liquidity(who, token_id, liquidity)
        got0, got1 = self.v3.collect(who, token_id)
        self.v3.burn(who, token_id)
        del self.token_ids[slot]
        return np.ones(1, bool), np.array([float(got0)]), np.array([float(got1)])

    def mint(self, slot, lower, upper, usdc_raw, weth_raw, mask):
        """A mint the position manager refuses (e.g. amounts too small for any liquidity) opens nothing."""
        if not mask[0]:
            return np.zeros(1), np.zeros(1)
        who = self.address(slot)
        usdc = held_amount(usdc_raw[0], self.usdc.balance_of(who))
        weth = held_amount(weth_raw[0], self.weth.balance_of(who))
        try:
            position = self.v3.mint(who, self.usdc, self.weth, self.fee_pips, int(lower[0]), int(upper[0]), usdc, weth)
        except TransactionReverted:
            return np.zeros(1), np.zeros(1)
        self.token_ids[slot] = position.token_id
        return np.array([float(position.amount0)]), np.array([float(position.amount1)])
