"""Morpho's AdaptiveCurveIrm three ways, checked against each other and against the model's intent: restated
here over Python ints (``ref_*``, the published formulas with Solidity's signed division), batched in float64
(envs.protocols.morpho_blue.adaptive_curve_irm, numpy and torch) and compiled from
envs/contracts/solidity/AdaptiveCurveIrm.sol, on its own and as the rate model of a Morpho Blue market (pyrevm)."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import eth_abi
import numpy as np
import pytest
from eth_utils import keccak

from envs.protocols.morpho_blue import adaptive_curve_irm as acm
from envs.protocols.morpho_blue import morpho as mb
from envs.units import SECONDS_PER_YEAR, WAD

DAY = 86_400
USDC, WETH = 10**6, 10**18
PRICE = 2000 * 10**24
LLTV = 86 * 10**16


# --- the model over Python ints --------------------------------------------------------------------------


def tdiv(x: int, d: int) -> int:
    """Solidity's signed division: the quotient rounded toward zero."""
    q = abs(x) // abs(d)
    return q if (x >= 0) == (d > 0) else -q


def w_mul(x: int, y: int) -> int:
    return tdiv(x * y, WAD)


def w_div(x: int, y: int) -> int:
    return tdiv(x * WAD, y)


def ref_w_exp(x: int) -> int:
    """ExpLib.wExp."""
    if x < acm.LN_WEI_INT:
        return 0
    if x >= acm.WEXP_UPPER_BOUND:
        return acm.WEXP_UPPER_VALUE
    half = acm.LN_2_INT // 2
    q = tdiv(x + (-half if x < 0 else half), acm.LN_2_INT)
    r = x - q * acm.LN_2_INT
    exp_r = WAD + r + tdiv(tdiv(r * r, WAD), 2)
    return exp_r << q if q >= 0 else exp_r >> -q


def ref_curve(rate_at_target: int, err: int) -> int:
    coeff = WAD - w_div(WAD, acm.CURVE_STEEPNESS) if err < 0 else acm.CURVE_STEEPNESS - WAD
    return w_mul(w_mul(coeff, err) + WAD, rate_at_target)


def ref_new_rate_at_target(start: int, linear_adaptation: int) -> int:
    rate = w_mul(start, ref_w_exp(linear_adaptation))
    return min(max(rate, acm.MIN_RATE_AT_TARGET), acm.MAX_RATE_AT_TARGET)


def ref_err(supply: int, borrow: int) -> int:
    utilization = borrow * WAD // supply if supply > 0 else 0
    norm = WAD - acm.TARGET_UTILIZATION if utilization > acm.TARGET_UTILIZATION else acm.TARGET_UTILIZATION
    return w_div(utilization - acm.TARGET_UTILIZATION, norm)


def ref_borrow_rate(supply: int, borrow: int, start: int, elapsed: int) -> tuple[int, int]:
    """AdaptiveCurveIrm._borrowRate: (average borrow rate, rate at target at the end)."""
    err = ref_err(supply, borrow)
    if start == 0:
        avg = end = acm.INITIAL_RATE_AT_TARGET
    else:
        linear_adaptation = w_mul(acm.ADJUSTMENT_SPEED, err) * elapsed
        if linear_adaptation == 0:
            avg = end = start
        else:
            end = ref_new_rate_at_target(start, linear_adaptation)
            mid = ref_new_rate_at_target(start, tdiv(linear_adaptation, 2))
            avg = tdiv(start + end + 2 * mid, 4)
    return ref_curve(avg, err), end


def a(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


def rel_close(sim: float, ref: int, rel: float = 1e-12) -> bool:
    return abs(float(sim) - ref) <= max(rel * abs(ref), 1.0)


# --- the constants and ExpLib ----------------------------------------------------------------------------


def test_constants_are_the_published_ones():
    assert acm.ADJUSTMENT_SPEED == 50 * WAD // (365 * DAY) == 1_585_489_599_188
    assert acm.INITIAL_RATE_AT_TARGET == 1_268_391_679  # 4% APR per second
    assert acm.MIN_RATE_AT_TARGET == 31_709_791 and acm.MAX_RATE_AT_TARGET == 63_419_583_967
    assert acm.TARGET_UTILIZATION == 9 * 10**17 and acm.CURVE_STEEPNESS == 4 * WAD
    with localcontext() as ctx:
        ctx.prec = 50
        assert acm.LN_2_INT == int(Decimal(2).ln() * WAD)  # ln 2, truncated to 18 decimals
        assert abs(acm.LN_WEI_INT - Decimal("1e-18").ln() * WAD) < 1


@pytest.mark.parametrize("x", [*np.linspace(-41.4, 93.8, 271), -1e-9, 1e-9, 0.3465, -0.3465, 0.3467, -0.3467])
def test_w_exp_tracks_exp_within_the_second_order_error(x: float):
    """e^r ~ 1 + r + r^2/2 on |r| <= ln2/2 is off by at most |r|^3/6 e^|r| relative (Lagrange), under 1%; small
    arguments are far closer; the batched float64 agrees with the integers."""
    xi = int(round(x * WAD))
    got = ref_w_exp(xi)
    r = abs(x - round(x / math.log(2)) * math.log(2))
    bound = r**3 / 6 * math.exp(r) + 1e-12
    assert bound < 0.0099
    if got > 10**6:  # the relative error of the floors stays negligible here
        assert abs(got / (math.exp(xi / WAD) * WAD) - 1) <= bound + 2.0 / got  # and the floors: a wei or two
    assert rel_close(acm.w_exp(a(float(xi)))[0], got, 1e-13)


def test_w_exp_exact_points_and_bounds():
    assert ref_w_exp(0) == WAD and acm.w_exp(a(0.0))[0] == WAD
    assert ref_w_exp(acm.LN_2_INT) == 2 * WAD and ref_w_exp(-acm.LN_2_INT) == WAD // 2
    assert ref_w_exp(10 * acm.LN_2_INT) == 1024 * WAD
    assert ref_w_exp(acm.LN_WEI_INT - 1) == 0 and ref_w_exp(acm.LN_WEI_INT) in (0, 1)
    assert ref_w_exp(acm.WEXP_UPPER_BOUND) == ref_w_exp(10**30) == acm.WEXP_UPPER_VALUE
    below = ref_w_exp(acm.WEXP_UPPER_BOUND - 1)  # the cap is the formula's value at the bound
    assert abs(below / acm.WEXP_UPPER_VALUE - 1) < 1e-15
    xs = a(acm.LN_WEI_INT - 1.0e3, float(acm.WEXP_UPPER_BOUND), 1e30, -1e30)
    assert list(acm.w_exp(xs)) == [0.0, float(acm.WEXP_UPPER_VALUE), float(acm.WEXP_UPPER_VALUE), 0.0]


# --- the curve and the adaptation -----------------------------------------------------------------------


def test_curve_is_a_quarter_one_and_four_times_the_rate_at_target():
    r = 1_268_391_679
    assert [ref_curve(r, e) for e in (-WAD, 0, WAD)] == [r // 4, r, 4 * r]
    assert list(acm.curve(a(r, r, r), a(-WAD, 0, WAD))) == [r // 4, r, 4 * r]
    assert ref_curve(r, -WAD // 2) == w_mul(WAD - 3 * WAD // 8, r)  # linear on each side
    assert ref_curve(r, WAD // 2) == w_mul(WAD * 5 // 2, r)


@pytest.mark.parametrize("utilization", [0.0, 0.5, 0.8, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("days", [1, 5, 30])
def test_rate_at_target_adapts_as_exp_of_speed_times_error(utilization: float, days: int):
    """Above the 90% target the rate at target rises, below it falls, as exp(ADJUSTMENT_SPEED err t) (within
    wExp's 1%), bounded to [MIN, MAX]; the rate returned lies between the curve at the start and the end."""
    supply = 10**12
    borrow = int(utilization * supply)
    start = acm.INITIAL_RATE_AT_TARGET
    t = days * DAY
    avg_rate, end = ref_borrow_rate(supply, borrow, start, t)
    err = ref_err(supply, borrow)
    exact = start * math.exp(acm.ADJUSTMENT_SPEED / WAD * err / WAD * t)
    expected = min(max(exact, acm.MIN_RATE_AT_TARGET), acm.MAX_RATE_AT_TARGET)
    assert abs(end / expected - 1) < 0.01
    if utilization > 0.9:
        assert end > start
    elif utilization < 0.9:
        assert end < start
    else:
        assert end == start and avg_rate == start
    low, high = sorted((ref_curve(start, err), ref_curve(end, err)))
    assert low <= avg_rate <= high
    got_rate, got_end = acm.borrow_rate(a(supply), a(borrow), a(start), a(t))
    assert rel_close(got_rate[0], avg_rate) and rel_close(got_end[0], end)


def test_first_call_starts_at_the_initial_rate_and_bounds_hold():
    assert ref_borrow_rate(10**12, 10**12, 0, 10**7) == (4 * acm.INITIAL_RATE_AT_TARGET, acm.INITIAL_RATE_AT_TARGET)
    assert ref_borrow_rate(0, 0, 0, 0) == (acm.INITIAL_RATE_AT_TARGET // 4, acm.INITIAL_RATE_AT_TARGET)
    assert ref_borrow_rate(10**12, 10**12, acm.INITIAL_RATE_AT_TARGET, 10 * SECONDS_PER_YEAR)[1] == (
        acm.MAX_RATE_AT_TARGET
    )
    assert ref_borrow_rate(10**12, 0, acm.INITIAL_RATE_AT_TARGET, 10 * SECONDS_PER_YEAR)[1] == acm.MIN_RATE_AT_TARGET
    rate, end = acm.borrow_rate(
        a(1e12, 0, 1e12, 1e12), a(1e12, 0, 1e12, 0), a(0, 0, 1.268391679e9, 1.268391679e9), a(1e7, 0, 3.2e8, 3.2e8)
    )
    assert list(end) == [acm.INITIAL_RATE_AT_TARGET] * 2 + [acm.MAX_RATE_AT_TARGET, acm.MIN_RATE_AT_TARGET]
    assert rate[0] == 4 * acm.INITIAL_RATE_AT_TARGET and rate[1] == acm.INITIAL_RATE_AT_TARGET // 4


def _random_inputs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    supply = np.floor(10 ** rng.uniform(6, 15, n))
    borrow = np.floor(supply * np.where(rng.random(n) < 0.2, rng.choice([0.0, 0.9, 1.0], n), rng.uniform(0, 1, n)))
    start = np.where(rng.random(n) < 0.1, 0.0, np.floor(10 ** rng.uniform(7.5, 10.8, n)))
    elapsed = np.where(rng.random(n) < 0.1, 0.0, np.floor(10 ** rng.uniform(0, 8, n)))
    return supply, borrow, start, elapsed


def test_batched_float64_matches_the_integers():
    supply, borrow, start, elapsed = _random_inputs(2000, 0)
    rate, end = acm.borrow_rate(supply, borrow, start, elapsed)
    for i in range(len(supply)):
        want_rate, want_end = ref_borrow_rate(int(supply[i]), int(borrow[i]), int(start[i]), int(elapsed[i]))
        assert rel_close(rate[i], want_rate), (i, float(rate[i]), want_rate)
        assert rel_close(end[i], want_end), (i, float(end[i]), want_end)


def test_numpy_and_torch_agree():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    inputs = _random_inputs(500, 1)
    on_numpy = acm.borrow_rate(*inputs)
    on_torch = acm.borrow_rate(*(torch.asarray(x) for x in inputs))
    for n, t in zip(on_numpy, on_torch):
        np.testing.assert_array_equal(t.numpy(), n)


# --- the Solidity contract (pyrevm) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain_market():
    from envs.contracts.market import build_market
    from envs.evm.revm import PyrevmChain

    return build_market(PyrevmChain())


@pytest.fixture
def blue(chain_market):
    from envs.contracts.morpho_blue import deploy_morpho_blue

    snap = chain_market.chain.snapshot()
    yield deploy_morpho_blue(chain_market.chain, chain_market.tokens["USDC"], chain_market.tokens["WETH"], PRICE, LLTV)
    chain_market.chain.revert(snap)


def rate_at_target_slot(market_id: bytes) -> int:
    """rateAtTarget[id]: the mapping is the contract's first storage variable (MORPHO is immutable)."""
    return int.from_bytes(keccak(eth_abi.encode(["bytes32", "uint256"], [market_id, 0])), "big")


def test_contract_borrow_rate_view_matches_over_a_grid(blue):
    """borrowRateView for utilizations x elapsed times x stored rates at target: the integers exactly, the
    batched float64 to 1e-12."""
    chain, irm = blue.chain, blue.irm
    assert irm.call("MORPHO").lower() == blue.morpho.address.lower()
    assert irm.call("rateAtTarget", blue.market_id) == acm.INITIAL_RATE_AT_TARGET  # createMarket's borrowRate
    chain.advance_time(10 * SECONDS_PER_YEAR)
    now = chain.timestamp()
    supply = 10**13
    rows = []
    for start in (0, acm.MIN_RATE_AT_TARGET, acm.INITIAL_RATE_AT_TARGET, 7_777_777_777, acm.MAX_RATE_AT_TARGET):
        chain.set_storage(irm.address, rate_at_target_slot(blue.market_id), start)
        assert irm.call("rateAtTarget", blue.market_id) == start
        for utilization in (0, 0.3, 0.8999, 0.9, 0.90001, 0.97, 1):
            borrow = int(utilization * supply)
            for elapsed in (0, 1, 12, 3_600, 7 * DAY, 90 * DAY, 2 * SECONDS_PER_YEAR):
                market = (supply, supply * 10**6, borrow, borrow * 10**6, now - elapsed, 0)
                got = irm.call("borrowRateView", blue.market_params, market)
                assert got == ref_borrow_rate(supply, borrow, start, elapsed)[0], (start, utilization, elapsed)
                rows.append((supply, borrow, start, elapsed, got))
    s, b, r0, e, want = (a(*col) for col in zip(*rows))
    sim = acm.borrow_rate_view(s, b, r0, e)
    np.testing.assert_allclose(sim, want, rtol=1e-12, atol=1.0)


def test_only_morpho_may_update_the_rate(blue):
    from envs.contracts.accounts import DEV_ACCOUNTS
    from envs.evm.chain import TransactionReverted

    with pytest.raises(TransactionReverted, match="not Morpho"):
        blue.irm.transact("borrowRate", blue.market_params, blue.market_tuple(), sender=DEV_ACCOUNTS[3])


def test_morpho_accrual_with_the_adaptive_irm_matches_the_simulator(blue):
    """A market held above target, then below it (down to MIN_RATE_AT_TARGET), accrued on chain: each accrual's
    rate at target (stored by borrowRate), rate and totals equal the integers and the simulator's to 1e-12."""
    from envs.contracts.accounts import DEV_ACCOUNTS

    lender, borrower = DEV_ACCOUNTS[4], DEV_ACCOUNTS[5]
    chain = blue.chain
    for who, token, raw in ((lender, blue.loan, 10**12), (borrower, blue.collateral, 10**22)):
        token.mint(who, raw)
        blue.approve(who)
    blue.supply(lender, 10**12)
    blue.supply_collateral(borrower, 10**22)
    blue.borrow(borrower, 95 * 10**10)  # 95% utilization: above target
    m = blue.market()
    state = mb.initial_state(np, 1, 2, float(m["lastUpdate"]))
    state.total_supply_assets[:] = m["totalSupplyAssets"]
    state.total_supply_shares[:] = m["totalSupplyShares"]
    state.total_borrow_assets[:] = m["totalBorrowAssets"]
    state.total_borrow_shares[:] = m["totalBorrowShares"]
    params = mb.MorphoParams(lltv=float(LLTV))
    supply, borrow, last = m["totalSupplyAssets"], m["totalBorrowAssets"], m["lastUpdate"]
    start = blue.irm.call("rateAtTarget", blue.market_id)  # fell from INITIAL_RATE_AT_TARGET while idle
    assert 0 < start < acm.INITIAL_RATE_AT_TARGET
    state.rate_at_target[:] = start
    rates = [start]
    for step, days in enumerate((3, 10, 0.5, 5, 7, 60)):
        if step == 3:  # repay most of the debt: below target from here on
            blue.loan.mint(borrower, 10**12)
            blue.repay(borrower, assets=8 * 10**11)
            m = blue.market()
            for name, key in (
                ("total_supply_assets", "totalSupplyAssets"),
                ("total_borrow_assets", "totalBorrowAssets"),
                ("total_borrow_shares", "totalBorrowShares"),
            ):
                getattr(state, name)[:] = m[key]
            _, start = ref_borrow_rate(supply, borrow, start, m["lastUpdate"] - last)
            state.rate_at_target[:] = start
            state.last_update[:] = m["lastUpdate"]
            supply, borrow, last = m["totalSupplyAssets"], m["totalBorrowAssets"], m["lastUpdate"]
            rates.append(start)
        chain.advance_time(int(days * DAY))
        result = blue.accrue_interest()
        now = chain.timestamp()
        rate, start = ref_borrow_rate(supply, borrow, start, now - last)
        first = rate * (now - last)
        second = first * first // (2 * WAD)
        interest = borrow * (first + second + second * first // (3 * WAD)) // WAD
        supply, borrow, last = supply + interest, borrow + interest, now
        (event,) = blue.morpho.events(result, "AccrueInterest")
        assert event["prevBorrowRate"] == rate and event["interest"] == interest
        assert blue.irm.call("rateAtTarget", blue.market_id) == start
        (update,) = blue.irm.events(result, "BorrowRateUpdate")
        assert update["avgBorrowRate"] == rate and update["rateAtTarget"] == start
        m = blue.market()
        assert (m["totalSupplyAssets"], m["totalBorrowAssets"]) == (supply, borrow)
        held = state.rate_at_target.copy()
        expected = mb.expected_totals(state, params, float(now))  # borrowRateView: nothing stored
        assert state.rate_at_target[0] == held[0]
        mb.accrue_interest(state, params, float(now))
        assert rel_close(state.rate_at_target[0], start)
        assert rel_close(state.total_borrow_assets[0], borrow) and rel_close(state.total_supply_assets[0], supply)
        assert rel_close(expected.total_borrow_assets[0], borrow)
        rates.append(start)
    assert rates[:5] == sorted(rates[:5]) and rates[0] < rates[3]  # above target: rising
    assert rates[4] > rates[5] > rates[6] > rates[7] == acm.MIN_RATE_AT_TARGET  # below: falling to the floor
