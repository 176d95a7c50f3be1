"""The batched Uniswap V3 simulator agrees with the real UniswapV3Pool bytecode (pyrevm), step by step."""

from __future__ import annotations

import numpy as np
import pytest

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import Market, build_market
from envs.contracts.state_reader import read_v3_pool, v3_pool_state
from envs.evm.revm import PyrevmChain
from envs.protocols.uniswap_v3 import pool as v3
from envs.protocols.uniswap_v3.liquidity_amounts import get_liquidity_for_amounts
from envs.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from tests.parity import assert_close

TRADER, LP = DEV_ACCOUNTS[2], DEV_ACCOUNTS[3]


@pytest.fixture(scope="module")
def chain_market() -> Market:
    market = build_market(PyrevmChain())
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    for who, spender in ((TRADER, market.v3.router.address), (LP, market.v3.position_manager.address)):
        usdc.mint(who, 10**16)
        weth.mint(who, 10**25)
        usdc.approve(who, spender)
        weth.approve(who, spender)
    return market


def _one(x):
    return np.array([x])


class Twin:
    """One pool on chain and the same pool in the simulator (one world), driven together."""

    def __init__(self, market: Market, fee: int):
        self.m, self.fee, self.pool = market, fee, market.v3_pools[fee]
        self.params, self.state = v3_pool_state(read_v3_pool(self.pool), np, 1)
        self.usdc, self.weth = market.tokens["USDC"], market.tokens["WETH"]  # token0, token1
        self.token_id: int | None = None

    def swap(self, usdc_in: bool, raw: int) -> None:
        tin, tout = (self.usdc, self.weth) if usdc_in else (self.weth, self.usdc)
        out, event = self.m.v3.exact_input_single(TRADER, tin, tout, self.fee, raw)
        r = v3.swap(
            self.state, self.params, _one(usdc_in), _one(float(raw)), v3.default_price_limit(_one(usdc_in)), _one(True)
        )
        assert_close("amount out", r.amount_out[0], out)
        assert_close("amount in", r.amount_in[0], event["amount0"] if usdc_in else event["amount1"])

    def swap_to_price(self, sqrt_price_target: float) -> None:
        sqrt_now = self.state.sqrt_price[0]
        usdc_in = sqrt_price_target < sqrt_now  # token0 in lowers sqrt(token1/token0)
        tin, tout = (self.usdc, self.weth) if usdc_in else (self.weth, self.usdc)
        budget = tin.balance_of(TRADER)
        out, event = self.m.v3.exact_input_single(
            TRADER, tin, tout, self.fee, budget, sqrt_price_limit_x96=int(sqrt_price_target * 2**96)
        )
        target = float(int(sqrt_price_target * 2**96)) / 2**96
        r = v3.swap(self.state, self.params, _one(usdc_in), _one(np.inf), _one(target), _one(True))
        assert_close("amount out to price", r.amount_out[0], out)

    def mint(self, tick_lower: int, tick_upper: int, raw0: int, raw1: int) -> None:
        if self.token_id is not None:  # a new range takes the slot: settle the old position first
            self.collect()
        position = self.m.v3.mint(LP, self.usdc, self.weth, self.fee, tick_lower, tick_upper, raw0, raw1)
        self.token_id = position.token_id
        s = self.state
        liquidity = get_liquidity_for_amounts(
            s.sqrt_price,
            get_sqrt_ratio_at_tick(_one(tick_lower)),
            get_sqrt_ratio_at_tick(_one(tick_upper)),
            _one(float(raw0)),
            _one(float(raw1)),
        )
        assert_close("minted liquidity", liquidity[0], position.liquidity)
        a0, a1 = v3.modify_position(
            s, self.params, _one(0), _one(tick_lower), _one(tick_upper), _one(float(position.liquidity)), _one(True)
        )
        assert_close("mint amount0", a0[0], position.amount0)
        assert_close("mint amount1", a1[0], position.amount1)

    def burn(self, percent: int) -> None:
        held = self.m.v3.position(self.token_id)["liquidity"]
        assert_close("position liquidity", self.state.position_liquidity[0, 0], held)
        liquidity = held * percent // 100
        c0, c1 = self.m.v3.decrease_liquidity(LP, self.token_id, liquidity)
        s, slot = self.state, _one(0)
        a0, a1 = v3.modify_position(
            s, self.params, slot, s.position_lower[:, 0], s.position_upper[:, 0], _one(-float(liquidity)), _one(True)
        )
        assert_close("burn amount0", a0[0], c0)
        assert_close("burn amount1", a1[0], c1)

    def collect(self) -> None:
        c0, c1 = self.m.v3.collect(LP, self.token_id)
        s0, s1 = v3.collect_all(self.state, self.params, _one(0), _one(True))
        assert_close("collected token0", s0[0], c0, units=4)  # principal and fees each round once more
        assert_close("collected token1", s1[0], c1, units=4)

    def check_pool(self) -> None:
        sqrt_price_x96, tick, *_ = self.pool.call("slot0")
        assert_close("sqrt price", self.state.sqrt_price[0], sqrt_price_x96 / 2**96, units=0)
        assert int(self.state.tick[0]) == tick
        assert_close("active liquidity", self.state.liquidity[0], self.pool.call("liquidity"))


@pytest.mark.parametrize("fee", [500, 3000])
@pytest.mark.parametrize("seed", range(8))
def test_random_swaps_mints_burns_and_collects_agree_with_the_pool(chain_market: Market, fee, seed):
    snap = chain_market.chain.snapshot()
    try:
        twin, rng = Twin(chain_market, fee), np.random.default_rng(seed)
        spacing, price = twin.params.tick_spacing, 1940.0
        for step in range(60):
            op = rng.choice(["swap", "swap", "swap", "big_swap", "to_price", "mint", "burn", "collect"])
            if op in ("swap", "big_swap"):
                usd = 10 ** rng.uniform(0, 4.5) if op == "swap" else 10 ** rng.uniform(6.3, 7)  # big ones cross ranges
                usdc_in = bool(rng.integers(2))
                twin.swap(usdc_in, int(usd * 1e6) if usdc_in else int(usd / price * 1e18))
            elif op == "to_price":
                twin.swap_to_price(float(twin.state.sqrt_price[0]) * (1 + rng.normal(0, 0.01)))
            elif op == "mint" and twin.state.position_liquidity[0, 0] == 0:
                tick = int(twin.state.tick[0])
                width = int(rng.integers(1, 40)) * spacing
                center = tick - tick % spacing + int(rng.integers(-5, 6)) * spacing
                twin.mint(
                    center - width, center + width, int(rng.uniform(1e3, 1e6) * 1e6), int(rng.uniform(1, 500) * 1e18)
                )
            elif op == "burn" and twin.token_id is not None and twin.state.position_liquidity[0, 0] > 0:
                twin.burn(int(rng.choice([30, 100])))
            elif op == "collect" and twin.token_id is not None:
                twin.collect()
            twin.check_pool()
    finally:
        chain_market.chain.revert(snap)


def test_a_swap_across_every_range_matches_and_crosses_them(chain_market: Market):
    snap = chain_market.chain.snapshot()
    try:
        twin = Twin(chain_market, 500)
        ticks_before = int((twin.state.ticks[0] > -887272).sum())
        twin.swap(True, 30_000_000 * 10**6)  # $30M of USDC into a $20M pool: through every range
        twin.check_pool()
        assert int(twin.state.cursor[0]) <= 2 and ticks_before >= 9  # only the full-range lower tick is left below
        twin.swap(False, 20_000 * 10**18)
        twin.check_pool()
    finally:
        chain_market.chain.revert(snap)


def test_a_simulator_quote_matches_quoter_v2_and_changes_nothing(chain_market: Market):
    twin = Twin(chain_market, 3000)
    before = twin.state.copy()
    for usdc_in, raw in ((True, 2_000_000 * 10**6), (False, 700 * 10**18)):
        tin, tout = (twin.usdc, twin.weth) if usdc_in else (twin.weth, twin.usdc)
        chain = chain_market.v3.quote_exact_input_single(tin, tout, 3000, raw)
        sim = v3.quote_exact_input(twin.state, twin.params, _one(usdc_in), _one(float(raw)))
        assert_close("quoted amount out", sim.amount_out[0], chain["amount_out"])
    for name in ("sqrt_price", "liquidity", "fee_growth_global0", "ticks", "fee_growth_outside1"):
        np.testing.assert_array_equal(getattr(twin.state, name), getattr(before, name))
