"""The batched Morpho Blue simulator against the Solidity formulas in exact integers: MathLib, SharesMathLib,
IrmMock, interest accrual with its fee, liquidation and bad debt, each revert's code, masked worlds left
untouched, numpy and torch alike. ``Ref`` is Morpho.sol restated over Python ints, one market on IrmMock (so
the simulator runs with irm="mock" against it); the parity with the Morpho bytecode runs with both rate models,
AdaptiveCurveIrm (the default) and IrmMock (tests/test_adaptive_curve_irm.py checks the adaptive model itself)."""

from __future__ import annotations

import copy
from dataclasses import fields

import numpy as np
import pytest

from envs.protocols.morpho_blue import errors
from envs.protocols.morpho_blue import morpho as mb
from envs.protocols.morpho_blue.adaptive_curve_irm import INITIAL_RATE_AT_TARGET
from envs.protocols.morpho_blue.irm_mock import borrow_rate
from envs.protocols.morpho_blue.math_lib import mul_div_down, mul_div_up, w_taylor_compounded
from envs.protocols.morpho_blue.shares_math_lib import to_assets_down, to_assets_up, to_shares_down, to_shares_up
from envs.units import SECONDS_PER_YEAR, WAD
from tests.protocol_rules import irm_mock_rate
from tests.protocol_rules import liquidation_incentive_factor as lif
from tests.protocol_rules import mul_div_down as mdd
from tests.protocol_rules import mul_div_up as mdu
from tests.protocol_rules import to_assets_down as as_down
from tests.protocol_rules import to_assets_up as as_up
from tests.protocol_rules import to_shares_down as sh_down
from tests.protocol_rules import to_shares_up as sh_up
from tests.protocol_rules import w_taylor_compounded as taylor

SCALE = 10**36
LLTV = 86 * 10**16
PRICE = 2000 * 10**24  # USDC raw per WETH raw x 1e36 at $2000
T0 = 1.7e9


# --- Morpho.sol over Python ints: tests/protocol_rules.py, by the short names Ref uses -------------------


class Revert(Exception):
    def __init__(self, code: int):
        self.code = code


class Ref:
    """One Morpho Blue market in exact integers, each call reverting (state kept) with an ErrorsLib code."""

    def __init__(self, accounts: int, now: int, lltv: int = LLTV, fee: int = 0):
        self.tsa = self.tss = self.tba = self.tbs = 0
        self.last, self.lltv, self.fee = now, lltv, fee
        self.supply_shares = [0] * accounts
        self.borrow_shares = [0] * accounts
        self.collateral = [0] * accounts

    def call(self, name: str, *args):
        """Run ``name``; returns (result, 0), or (None, code) with the state as before."""
        saved = copy.deepcopy(self.__dict__)
        try:
            return getattr(self, name)(*args), 0
        except Revert as err:
            self.__dict__ = saved
            return None, err.code

    @staticmethod
    def need(ok: bool, code: int) -> None:
        if not ok:
            raise Revert(code)

    def sub(self, x: int, y: int) -> int:
        self.need(y <= x, errors.ARITHMETIC)
        return x - y

    def accrue(self, now: int) -> None:
        elapsed = now - self.last
        if elapsed == 0:
            return
        interest = mdd(self.tba, taylor(irm_mock_rate(self.tsa, self.tba), elapsed), WAD)
        self.tba += interest
        self.tsa += interest
        if self.fee:
            fee_amount = mdd(interest, self.fee, WAD)
            fee_shares = sh_down(fee_amount, self.tsa - fee_amount, self.tss)
            self.supply_shares[-1] += fee_shares
            self.tss += fee_shares
        self.last = now

    def healthy(self, a: int, price: int) -> bool:
        borrowed = as_up(self.borrow_shares[a], self.tba, self.tbs)
        return mdd(mdd(self.collateral[a], price, SCALE), self.lltv, WAD) >= borrowed

    def supply(self, a: int, assets: int, now: int) -> int:
        self.need(assets > 0, errors.INCONSISTENT_INPUT)
        self.accrue(now)
        shares = sh_down(assets, self.tsa, self.tss)
        self.supply_shares[a] += shares
        self.tss += shares
        self.tsa += assets
        return shares

    def withdraw(self, a: int, assets: int | None, now: int) -> int:
        shares = self.supply_shares[a] if assets is None else 0
        self.need((assets or 0) > 0 or shares > 0, errors.INCONSISTENT_INPUT)
        self.accrue(now)
        if assets:
            shares = sh_up(assets, self.tsa, self.tss)
        else:
            assets = as_down(shares, self.tsa, self.tss)
        self.supply_shares[a] = self.sub(self.supply_shares[a], shares)
        self.tss = self.sub(self.tss, shares)
        self.tsa = self.sub(self.tsa, assets)
        self.need(self.tba <= self.tsa, errors.INSUFFICIENT_LIQUIDITY)
        return assets

    def borrow(self, a: int, assets: int, price: int, now: int) -> None:
        self.need(assets > 0, errors.INCONSISTENT_INPUT)
        self.accrue(now)
        shares = sh_up(assets, self.tba, self.tbs)
        self.borrow_shares[a] += shares
        self.tbs += shares
        self.tba += assets
        self.need(self.healthy(a, price), errors.INSUFFICIENT_COLLATERAL)
        self.need(self.tba <= self.tsa, errors.INSUFFICIENT_LIQUIDITY)

    def repay(self, a: int, assets: int | None, now: int) -> int:
        shares = self.borrow_shares[a] if assets is None else 0
        self.need((assets or 0) > 0 or shares > 0, errors.INCONSISTENT_INPUT)
        self.accrue(now)
        if assets:
            shares = sh_down(assets, self.tba, self.tbs)
        else:
            assets = as_up(shares, self.tba, self.tbs)
        self.borrow_shares[a] = self.sub(self.borrow_shares[a], shares)
        self.tbs = self.sub(self.tbs, shares)
        self.tba = max(self.tba - assets, 0)
        return assets

    def supply_collateral(self, a: int, assets: int) -> None:
        self.need(assets > 0, errors.ZERO_ASSETS)
        self.collateral[a] += assets

    def withdraw_collateral(self, a: int, assets: int, price: int, now: int) -> None:
        self.need(assets > 0, errors.ZERO_ASSETS)
        self.accrue(now)
        self.collateral[a] = self.sub(self.collateral[a], assets)
        self.need(self.healthy(a, price), errors.INSUFFICIENT_COLLATERAL)

    def liquidate(self, a: int, seized: int, repaid_shares: int, price: int, now: int) -> tuple[int, int]:
        self.need((seized == 0) != (repaid_shares == 0), errors.INCONSISTENT_INPUT)
        self.accrue(now)
        self.need(not self.healthy(a, price), errors.POSITION_IS_HEALTHY)
        factor = lif(self.lltv)
        if seized > 0:
            repaid_shares = sh_up(mdu(mdu(seized, price, SCALE), WAD, factor), self.tba, self.tbs)
        else:
            seized = mdd(mdd(as_down(repaid_shares, self.tba, self.tbs), factor, WAD), SCALE, price)
        repaid = as_up(repaid_shares, self.tba, self.tbs)
        self.borrow_shares[a] = self.sub(self.borrow_shares[a], repaid_shares)
        self.tbs = self.sub(self.tbs, repaid_shares)
        self.tba = max(self.tba - repaid, 0)
        self.collateral[a] = self.sub(self.collateral[a], seized)
        if self.collateral[a] == 0:
            bad_shares = self.borrow_shares[a]
            bad_assets = min(self.tba, as_up(bad_shares, self.tba, self.tbs))
            self.tba -= bad_assets
            self.tsa -= bad_assets
            self.tbs -= bad_shares
            self.borrow_shares[a] = 0
        return seized, repaid


# --- helpers ---------------------------------------------------------------------------------------------


def close(sim, ref: int, rel: float = 1e-12, units: float = 2.0) -> bool:
    return abs(float(sim) - ref) <= max(rel * abs(ref), units)


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


def world(n: int = 1, accounts: int = 3, **params) -> tuple[mb.MorphoState, mb.MorphoParams]:
    """``n`` fresh worlds on IrmMock (the rate ``Ref`` restates) unless ``irm`` is given."""
    params = {"irm": "mock", **params}
    return mb.initial_state(np, n, accounts, T0), mb.MorphoParams(lltv=float(params.pop("lltv", LLTV)), **params)


def ones(n: int = 1) -> np.ndarray:
    return np.ones(n, dtype=bool)


def funded(n: int = 1, **params) -> tuple[mb.MorphoState, mb.MorphoParams, np.ndarray]:
    """1M USDC supplied by account 2, 10 WETH of collateral by account 0, which borrows 15k USDC."""
    s, p = world(n, **params)
    now = np.full(n, T0)
    mb.supply(s, p, 2, np.full(n, 1e12), now, ones(n))
    mb.supply_collateral(s, 0, np.full(n, 1e19), ones(n))
    assert not mb.borrow(s, p, np.full(n, float(PRICE)), 0, np.full(n, 1.5e10), now, ones(n)).any()
    return s, p, now


#: shares above 2**53 are not exact in float64, so an amount read from them may be a raw unit off: shares agree
#: to within two raw units' worth (1e6 shares a unit) or the relative error ``_rel`` allows
SHARE_UNITS = 2e6


def assert_matches(state: mb.MorphoState, w: int, ref: Ref) -> None:
    for name, value, units in (
        ("total_supply_assets", ref.tsa, 2.0),
        ("total_supply_shares", ref.tss, SHARE_UNITS),
        ("total_borrow_assets", ref.tba, 2.0),
        ("total_borrow_shares", ref.tbs, SHARE_UNITS),
        ("last_update", ref.last, 0.0),
    ):
        sim = getattr(state, name)[w]
        assert close(sim, value, rel=_rel(name, ref), units=units), f"{name}: {sim!r} vs {value}"
    for name, units in (("supply_shares", SHARE_UNITS), ("borrow_shares", SHARE_UNITS), ("collateral", 2.0)):
        for a, value in enumerate(getattr(ref, name)):
            sim = getattr(state, name)[w, a]
            assert close(sim, value, rel=_rel(name, ref), units=units), f"{name}[{a}]: {sim!r} vs {value}"


def _rel(name: str, ref: Ref) -> float:
    """1e-12 for amounts; for shares ten raw units over the side's smallest total in these tests (1e12 supplied,
    1e10 borrowed): a payout read from float64 shares rounds a raw unit the other way about once in 1e4
    conversions, and shares minted after it are off by that unit over the total assets."""
    return {"supply_shares": 1e-11, "borrow_shares": 1e-9}.get(name.replace("total_", ""), 1e-12)


# --- the libraries ---------------------------------------------------------------------------------------


def test_mul_div_rounds_as_solidity_integer_division():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 2**40, 2000), rng.integers(0, 2**12, 2000)
    d = rng.integers(1, 2**30, 2000)
    down, up = mul_div_down(x * 1.0, y * 1.0, d * 1.0), mul_div_up(x * 1.0, y * 1.0, d * 1.0)
    for i in range(len(x)):
        xi, yi, di = int(x[i]), int(y[i]), int(d[i])
        assert down[i] == mdd(xi, yi, di) and up[i] == mdu(xi, yi, di)
    exact = mul_div_down(arr(6.0, 7.0), arr(5.0, 3.0), arr(3.0, 7.0))  # exact quotients stay whole
    assert list(exact) == [10.0, 3.0] and list(mul_div_up(arr(6.0, 7.0), arr(5.0, 3.0), arr(3.0, 7.0))) == [10.0, 3.0]


def test_shares_round_trip_never_favours_the_user():
    rng = np.random.default_rng(1)
    assets = np.floor(10 ** rng.uniform(0, 12, 500))
    ta, ts = np.floor(10 ** rng.uniform(3, 13, 500)), np.floor(10 ** rng.uniform(9, 15, 500))
    for f, g in ((to_shares_down, sh_down), (to_shares_up, sh_up), (to_assets_down, as_down), (to_assets_up, as_up)):
        out = f(assets, ta, ts)
        assert all(close(out[i], g(int(assets[i]), int(ta[i]), int(ts[i])), rel=1e-15, units=0) for i in range(500))
    # supplying then withdrawing the shares gives back no more; borrowing then repaying them costs no less
    assert (to_assets_down(to_shares_down(assets, ta, ts), ta, ts) <= assets).all()
    assert (to_assets_up(to_shares_up(assets, ta, ts), ta, ts) >= assets).all()
    assert list(to_shares_down(arr(1.0), arr(0.0), arr(0.0))) == [1e6]  # the virtual shares: 1e6 per raw unit


def test_w_taylor_compounded_is_the_three_term_series():
    rng = np.random.default_rng(2)
    rates = np.floor(10 ** rng.uniform(6, 10.5, 200))  # per-second WAD rates: ~0.003% to ~100% a year
    seconds = np.floor(10 ** rng.uniform(0, 7.5, 200))
    out = w_taylor_compounded(rates, seconds)
    for i in range(200):
        assert close(out[i], taylor(int(rates[i]), int(seconds[i])), rel=1e-15, units=0)
    # a year at 50% APR compounds to e^0.5 - 1 less the series' tail (~0.3%)
    year = w_taylor_compounded(arr(float(WAD // 2 // SECONDS_PER_YEAR)), arr(float(SECONDS_PER_YEAR)))[0] / WAD
    assert np.expm1(0.5) * 0.99 < year < np.expm1(0.5)


def test_irm_mock_rate_is_utilization_per_year():
    supply, borrow = arr(0.0, 1e12, 3e12, 7.0), arr(0.0, 5e11, 3e12, 3.0)
    rates = borrow_rate(supply, borrow)
    assert list(rates) == [irm_mock_rate(int(s), int(b)) for s, b in zip(supply, borrow)]
    assert rates[1] == (WAD // 2) // SECONDS_PER_YEAR


def test_the_rate_model_is_a_choice():
    assert mb.MorphoParams(lltv=float(LLTV)).irm == "adaptive_curve"  # Morpho's mainnet model by default
    assert mb.MorphoParams(lltv=float(LLTV), irm="mock").irm == "mock"
    with pytest.raises(ValueError, match="'adaptive_curve', 'mock'"):
        mb.MorphoParams(lltv=float(LLTV), irm="linear")


def test_the_adaptive_rate_at_target_moves_only_on_accrual():
    """accrue_interest stores the IRM's rate at target (borrowRate); expected reads do not (borrowRateView); the
    mock leaves it be. Above target it rises."""
    for irm in mb.IRMS:
        s, p, now = funded(irm=irm)
        mb.supply_collateral(s, 0, np.full(1, 1e21), ones())
        assert not mb.borrow(s, p, np.full(1, float(PRICE)), 0, np.full(1, 9.4e11), now, ones()).any()  # 95.5%
        start = float(s.rate_at_target[0])
        mb.expected_totals(s, p, now + 86400.0)
        assert s.rate_at_target[0] == start
        mb.accrue_interest(s, p, now + 86400.0)
        assert (s.rate_at_target[0] > start) == (irm == "adaptive_curve")
        assert s.rate_at_target[0] >= start


def test_liquidation_incentive_factor():
    assert mb.liquidation_incentive_factor(0.86e18) == float(lif(LLTV))
    assert 1.0438e18 < mb.liquidation_incentive_factor(0.86e18) < 1.0439e18
    assert mb.liquidation_incentive_factor(0.5e18) == 1.15e18  # capped
    assert mb.liquidation_incentive_factor(0.945e18) == float(lif(945 * 10**15))


# --- the market ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fee", [0, 10**17])
def test_interest_accrues_at_the_irm_rate_and_pays_the_fee_in_shares(fee):
    s, p, now = funded(fee=float(fee))
    ref = Ref(3, int(T0), fee=fee)
    ref.supply(2, 10**12, int(T0))
    ref.supply_collateral(0, 10**19)
    ref.borrow(0, 15 * 10**9, PRICE, int(T0))
    later = now + 30 * 86400.0
    expected = mb.expected_totals(s, p, later)
    mb.accrue_interest(s, p, later)
    ref.accrue(int(T0) + 30 * 86400)
    assert_matches(s, 0, ref)
    assert ref.tba > 15 * 10**9 and (ref.supply_shares[-1] > 10**18) == (fee > 0)
    assert [float(x[0]) for x in expected] == [
        float(s.total_supply_assets[0]),
        float(s.total_supply_shares[0]),
        float(s.total_borrow_assets[0]),
        float(s.total_borrow_shares[0]),
    ]
    assert close(mb.borrowed_assets(s, 0)[0], as_up(ref.borrow_shares[0], ref.tba, ref.tbs))
    assert close(mb.supplied_assets(s, 2)[0], as_down(ref.supply_shares[2], ref.tsa, ref.tss))


def test_reads_between_actions_see_accrued_interest():
    s, p, now = funded()
    later = now + 86400.0 * 365
    debt = mb.expected_borrow_assets(s, p, 0, later)[0]
    assert debt > mb.borrowed_assets(s, 0)[0] * 1.0001
    mb.accrue_interest(s, p, later)
    assert debt == mb.borrowed_assets(s, 0)[0]


def test_liquidation_by_seizure_and_by_shares_match_the_formulas():
    for by_seizure in (True, False):
        s, p, now = funded()
        ref = Ref(3, int(T0))
        ref.supply(2, 10**12, int(T0))
        ref.supply_collateral(0, 10**19)
        ref.borrow(0, 15 * 10**9, PRICE, int(T0))
        price = 1700 * 10**24  # 10 WETH at $1700 allow 14.62k of debt: under water
        later = int(T0) + 3600
        seized_in, shares_in = (10**18, 0) if by_seizure else (0, ref.borrow_shares[0] // 3)
        (seized, repaid), code = ref.call("liquidate", 0, seized_in, shares_in, price, later)
        assert code == 0
        out = mb.liquidate(s, p, arr(float(price)), 0, arr(float(seized_in)), arr(float(shares_in)), arr(later), ones())
        assert out[2][0] == 0 and close(out[0][0], seized) and close(out[1][0], repaid)
        assert_matches(s, 0, ref)
        # the liquidator pays the seized collateral's value over the incentive factor, about 1/1.0438
        assert repaid * lif(LLTV) / WAD == pytest.approx(seized * price / SCALE, rel=1e-6)


def test_seizing_all_collateral_realizes_the_bad_debt():
    s, p, now = funded()
    ref = Ref(3, int(T0))
    ref.supply(2, 10**12, int(T0))
    ref.supply_collateral(0, 10**19)
    ref.borrow(0, 15 * 10**9, PRICE, int(T0))
    price = 1000 * 10**24  # the collateral is worth less than the debt
    _, code = ref.call("liquidate", 0, 10**19, 0, price, int(T0))
    assert code == 0 and ref.borrow_shares[0] == 0 and ref.tba == 0 and ref.tsa < 10**12
    out = mb.liquidate(s, p, arr(float(price)), 0, arr(1e19), arr(0.0), now, ones())
    assert out[2][0] == 0
    assert_matches(s, 0, ref)
    assert s.borrow_shares[0, 0] == 0 and s.collateral[0, 0] == 0 and s.total_borrow_shares[0] == 0
    # suppliers bear the loss: 1M supplied less the debt not covered by 10 WETH at $1000 over the incentive
    assert s.total_supply_assets[0] == pytest.approx(1e12 - (1.5e10 - 1e10 / (lif(LLTV) / WAD)), rel=1e-9)


def test_each_revert_reports_its_code():
    s, p, now = funded()
    price, one = arr(float(PRICE)), ones()
    cases = {
        "supply 0": (mb.supply(s, p, 1, arr(0.0), now, one)[1], errors.INCONSISTENT_INPUT),
        "withdraw 0": (mb.withdraw(s, p, 1, arr(0.0), now, one)[1], errors.INCONSISTENT_INPUT),
        "withdraw all of nothing": (mb.withdraw(s, p, 1, arr(np.inf), now, one)[1], errors.INCONSISTENT_INPUT),
        "withdraw past shares": (mb.withdraw(s, p, 2, arr(2e12), now, one)[1], errors.ARITHMETIC),
        "withdraw lent out": (mb.withdraw(s, p, 2, arr(np.inf), now, one)[1], errors.INSUFFICIENT_LIQUIDITY),
        "borrow 0": (mb.borrow(s, p, price, 0, arr(0.0), now, one), errors.INCONSISTENT_INPUT),
        "borrow unhealthy": (mb.borrow(s, p, price, 0, arr(1e10), now, one), errors.INSUFFICIENT_COLLATERAL),
        "repay 0": (mb.repay(s, p, 0, arr(0.0), now, one)[1], errors.INCONSISTENT_INPUT),
        "repay past debt": (mb.repay(s, p, 0, arr(2e10), now, one)[1], errors.ARITHMETIC),
        "repay no debt": (mb.repay(s, p, 1, arr(np.inf), now, one)[1], errors.INCONSISTENT_INPUT),
        "collateral 0": (mb.supply_collateral(s, 0, arr(0.0), one), errors.ZERO_ASSETS),
        "withdraw collateral 0": (mb.withdraw_collateral(s, p, price, 0, arr(0.0), now, one), errors.ZERO_ASSETS),
        "withdraw collateral past held": (
            mb.withdraw_collateral(s, p, price, 0, arr(2e19), now, one),
            errors.ARITHMETIC,
        ),
        "withdraw collateral unhealthy": (
            mb.withdraw_collateral(s, p, price, 0, arr(5e18), now, one),
            errors.INSUFFICIENT_COLLATERAL,
        ),
        "liquidate both": (mb.liquidate(s, p, price, 0, arr(1.0), arr(1.0), now, one)[2], errors.INCONSISTENT_INPUT),
        "liquidate neither": (
            mb.liquidate(s, p, price, 0, arr(0.0), arr(0.0), now, one)[2],
            errors.INCONSISTENT_INPUT,
        ),
        "liquidate healthy": (
            mb.liquidate(s, p, price, 0, arr(1e18), arr(0.0), now, one)[2],
            errors.POSITION_IS_HEALTHY,
        ),
        "liquidate no debt": (
            mb.liquidate(s, p, price, 1, arr(1e18), arr(0.0), now, one)[2],
            errors.POSITION_IS_HEALTHY,
        ),
        "liquidate past shares": (
            mb.liquidate(s, p, arr(1e27), 0, arr(0.0), arr(1e30), now, one)[2],
            errors.ARITHMETIC,
        ),
        "liquidate past collateral": (
            mb.liquidate(s, p, arr(1e27), 0, arr(2e19), arr(0.0), now, one)[2],
            errors.ARITHMETIC,
        ),
    }
    before = s.copy()
    for what, (code, expected) in cases.items():
        assert int(code[0]) == expected, what
    for f in fields(s):  # every one of them reverted: nothing moved
        np.testing.assert_array_equal(getattr(s, f.name), getattr(before, f.name), err_msg=f.name)
    # a borrow beyond the market's cash, by a well-collateralized account
    mb.supply_collateral(s, 1, arr(1e22), one)
    assert int(mb.borrow(s, p, price, 1, arr(1e12), now, one)[0]) == errors.INSUFFICIENT_LIQUIDITY


def test_masked_and_reverting_worlds_are_left_untouched():
    s, p, now = funded(n=4)
    mask = np.array([True, False, True, True])
    before = s.copy()
    codes = mb.borrow(s, p, np.full(4, float(PRICE)), 0, arr(1e9, 1e9, 1e11, 1e9), now + 86400, mask)
    assert list(codes) == [0, 0, errors.INSUFFICIENT_COLLATERAL, 0]
    for f in fields(s):
        new, old = getattr(s, f.name), getattr(before, f.name)
        np.testing.assert_array_equal(new[[1, 2]], old[[1, 2]], err_msg=f.name)
        if f.name in ("borrow_shares", "total_borrow_shares", "last_update"):
            assert (new[[0, 3]] != old[[0, 3]]).any(), f.name
    np.testing.assert_array_equal(s.borrow_shares[0], s.borrow_shares[3])


def _random_run(xp, n: int, steps: int, seed: int, refs: list[Ref] | None = None, irm: str = "mock"):
    """A seeded random sequence of every action over ``n`` worlds (own amounts and masks per world) on
    the namespace ``xp`` and the rate model ``irm``; each step's codes are checked against ``refs`` (one Ref
    per world, IrmMock's rates) if given. Returns the final state and all codes."""
    rng = np.random.default_rng(seed)
    a = np.asarray if xp is np else (lambda x: xp.asarray(np.asarray(x)))
    s, p = mb.initial_state(xp, n, 3, T0), mb.MorphoParams(lltv=float(LLTV), fee=5e16, irm=irm)
    t = np.full(n, T0)
    price = np.full(n, float(PRICE))
    all_codes = []
    # account 2 (the fee recipient) keeps a supply and a safe debt in the market throughout: a side whose
    # shares all leave prices its next mint on a raw unit or two of dust, where float64's unit off doubles it
    base = a(np.ones(n, dtype=bool))
    mb.supply(s, p, 2, a(np.full(n, 1e12)), a(t), base)
    mb.supply_collateral(s, 2, a(np.full(n, 1e21)), base)
    mb.borrow(s, p, a(price), 2, a(np.full(n, 1e10)), a(t), base)
    for ref in refs or []:
        ref.supply(2, 10**12, int(T0))
        ref.supply_collateral(2, 10**21)
        ref.borrow(2, 10**10, PRICE, int(T0))

    def held(name: str, account: int) -> np.ndarray:
        values = getattr(s, name)[:, account]
        return np.asarray(values if xp is np else values.numpy())

    for _ in range(steps):
        action = rng.choice(["supply", "withdraw", "borrow", "repay", "collat", "uncollat", "time", "price", "liq"])
        u = int(rng.integers(2))
        mask = rng.random(n) < 0.8
        frac = rng.uniform(0, 1.2, n)
        if action == "time":
            t = t + np.where(mask, np.floor(rng.uniform(0, 40 * 86400, n)), 0)
            continue
        if action == "price":
            price = np.where(mask, np.floor(price * rng.uniform(0.8, 1.15, n)), price)
            continue
        everything = rng.random(n) < 0.3
        args: list[tuple] = []
        if action == "supply":
            amount = np.floor(10 ** rng.uniform(8, 12, n))
            _, code = mb.supply(s, p, u, a(amount), a(t), a(mask))
            args = [(u, int(amount[w]), int(t[w])) for w in range(n)]
        elif action == "withdraw":
            amount = np.where(everything, np.inf, np.floor(frac * held("supply_shares", u) / 1e6))
            _, code = mb.withdraw(s, p, u, a(amount), a(t), a(mask))
            args = [(u, None if everything[w] else int(amount[w]), int(t[w])) for w in range(n)]
        elif action == "borrow":
            amount = np.floor(10 ** rng.uniform(7, 10.5, n))
            code = mb.borrow(s, p, a(price), u, a(amount), a(t), a(mask))
            args = [(u, int(amount[w]), int(price[w]), int(t[w])) for w in range(n)]
        elif action == "repay":
            amount = np.where(everything, np.inf, np.floor(frac * held("borrow_shares", u) / 1e6))
            _, code = mb.repay(s, p, u, a(amount), a(t), a(mask))
            args = [(u, None if everything[w] else int(amount[w]), int(t[w])) for w in range(n)]
        elif action == "collat":
            amount = np.floor(10 ** rng.uniform(16, 19.5, n))
            code = mb.supply_collateral(s, u, a(amount), a(mask))
            args = [(u, int(amount[w])) for w in range(n)]
        elif action == "uncollat":
            amount = np.floor(frac * held("collateral", u) * 0.3)
            code = mb.withdraw_collateral(s, p, a(price), u, a(amount), a(t), a(mask))
            args = [(u, int(amount[w]), int(price[w]), int(t[w])) for w in range(n)]
        else:
            by_seizure = rng.random(n) < 0.5
            seized = np.where(
                by_seizure, np.where(everything, held("collateral", u), np.floor(frac * held("collateral", u))), 0
            )
            shares = np.where(by_seizure, 0, np.floor(frac * held("borrow_shares", u)))
            _, _, code = mb.liquidate(s, p, a(price), u, a(seized), a(shares), a(t), a(mask))
            args = [(u, int(seized[w]), int(shares[w]), int(price[w]), int(t[w])) for w in range(n)]
        code = np.asarray(code if xp is np else code.numpy())
        all_codes.append(code)
        if refs is not None:
            name = {"collat": "supply_collateral", "uncollat": "withdraw_collateral", "liq": "liquidate"}.get(
                str(action), str(action)
            )
            for w in range(n):
                if action == "liq" and by_seizure[w] and everything[w]:  # all of the Ref's own collateral
                    args[w] = (u, refs[w].collateral[u], 0, int(price[w]), int(t[w]))
                expected = refs[w].call(name, *args[w])[1] if mask[w] else 0
                assert int(code[w]) == expected, f"{action} in world {w}: code {int(code[w])}, expected {expected}"
    return s, all_codes


def test_random_sequences_match_the_integer_restatement():
    n = 6
    refs = [Ref(3, int(T0), fee=5 * 10**16) for _ in range(n)]
    s, codes = _random_run(np, n, 160, seed=3, refs=refs)
    for w, ref in enumerate(refs):
        assert_matches(s, w, ref)
    flat = np.concatenate(codes)
    assert {0, errors.INSUFFICIENT_COLLATERAL, errors.POSITION_IS_HEALTHY} <= set(flat.tolist())


@pytest.mark.parametrize("irm", mb.IRMS)
def test_numpy_and_torch_agree(irm: str):
    torch = pytest.importorskip("torch")
    from array_api_compat import torch as xp_torch

    torch.set_num_threads(1)
    on_numpy, codes_numpy = _random_run(np, 8, 80, seed=4, irm=irm)
    on_torch, codes_torch = _random_run(xp_torch, 8, 80, seed=4, irm=irm)
    if irm == "adaptive_curve":  # the rate at target moved (these markets sit far below target: to the floor)
        assert (on_numpy.rate_at_target != float(INITIAL_RATE_AT_TARGET)).all()
    for f in fields(on_numpy):
        np.testing.assert_array_equal(getattr(on_torch, f.name).numpy(), getattr(on_numpy, f.name), err_msg=f.name)
    np.testing.assert_array_equal(np.stack(codes_torch), np.stack(codes_numpy))


def test_an_emptied_market_refills_exactly_below_2_53():
    """Amounts small enough that every share count is an exact float64 integer: the simulator is the
    contract's arithmetic exactly, through a market emptied (dust left to the virtual shares) and refilled."""
    s, p = world(fee=10**17)
    ref = Ref(3, int(T0), fee=10**17)
    price = 2000 * 10**24
    steps: list[tuple[str, tuple]] = [
        ("supply", (0, 3_000_000, int(T0))),
        ("supply_collateral", (1, 10**15)),
        ("borrow", (1, 1_234_567, price, int(T0))),
        ("repay", (1, None, int(T0) + 200 * 86400)),
        ("withdraw", (0, None, int(T0) + 300 * 86400)),
        ("withdraw", (2, None, int(T0) + 300 * 86400)),
        ("supply", (0, 777_777, int(T0) + 301 * 86400)),
        ("borrow", (1, 333_333, price, int(T0) + 301 * 86400)),
        ("repay", (1, 100_000, int(T0) + 400 * 86400)),
    ]
    for name, args in steps:
        _, expected = ref.call(name, *args)
        if name == "supply_collateral":
            code = mb.supply_collateral(s, args[0], arr(float(args[1])), ones())
        elif name == "borrow":
            code = mb.borrow(s, p, arr(float(price)), args[0], arr(float(args[1])), arr(args[3]), ones())
        else:
            amount = arr(np.inf if args[1] is None else float(args[1]))
            code = getattr(mb, name)(s, p, args[0], amount, arr(args[2]), ones())[1]
        assert int(code[0]) == expected == 0, name
        assert [s.total_supply_assets[0], s.total_supply_shares[0], s.total_borrow_assets[0]] == [
            ref.tsa,
            ref.tss,
            ref.tba,
        ], name
        assert s.total_borrow_shares[0] == ref.tbs and list(s.supply_shares[0]) == ref.supply_shares, name
        assert list(s.borrow_shares[0]) == ref.borrow_shares and list(s.collateral[0]) == ref.collateral, name
    assert ref.tss > 0 and ref.tsa > 777_777  # the refill minted against the dust the virtual shares kept


# --- parity with the Morpho bytecode (pyrevm) ------------------------------------------------------------

FEE = 10**17  # 10% of the interest to the fee recipient, the last of the simulated accounts


class Twin:
    """One Morpho Blue market on chain (the package's bytecode, the rate model ``irm``, OracleMock) and in the
    simulator (one world), driven together: each action's code, returned amounts, every total and position and
    AdaptiveCurveIrm's rate at target agree."""

    def __init__(self, market, irm: str):
        from envs.contracts.accounts import DEPLOYER, DEV_ACCOUNTS
        from envs.contracts.morpho_blue import deploy_morpho_blue

        self.chain, self.usdc, self.weth = market.chain, market.tokens["USDC"], market.tokens["WETH"]
        self.users, self.liquidator = DEV_ACCOUNTS[4:7], DEV_ACCOUNTS[8]
        self.price = PRICE
        self.irm = irm
        self.blue = deploy_morpho_blue(self.chain, self.usdc, self.weth, self.price, LLTV, irm=irm)
        self.blue.morpho.transact("setFeeRecipient", self.users[-1], sender=DEPLOYER)
        self.blue.morpho.transact("setFee", self.blue.market_params, FEE, sender=DEPLOYER)
        for who in (*self.users, self.liquidator):
            self.usdc.mint(who, 10**15)
            self.weth.mint(who, 10**23)
            self.blue.approve(who)
        self.state = mb.initial_state(np, 1, len(self.users), float(self.blue.market()["lastUpdate"]))
        self.params = mb.MorphoParams(lltv=float(LLTV), fee=float(FEE), irm=irm)
        if irm == "adaptive_curve":  # setFee accrued interest: the rate at target moved on from its initial value
            self.state.rate_at_target[:] = self.rate_at_target()

    def rate_at_target(self) -> int:
        return self.blue.irm.call("rateAtTarget", self.blue.market_id)

    def now(self) -> np.ndarray:
        return arr(float(self.chain.timestamp()))

    def on_chain(self, action) -> tuple[int, object]:
        from envs.contracts.morpho_blue import error_code
        from envs.evm.chain import TransactionReverted

        try:
            return 0, action()
        except TransactionReverted as err:
            return error_code(err), None

    def position(self, u: int) -> dict:
        return self.blue.position(self.users[u])

    def act(self, name: str, u: int, amount: int | None = None, extra: int = 0) -> int:
        """``name`` by user ``u``: ``amount`` raw (None: all its shares, for withdraw and repay; for liquidate
        the collateral to seize, or 0 and ``extra`` shares to repay)."""
        user, one = self.users[u], ones()
        if name == "supply":
            code, _ = self.on_chain(lambda: self.blue.supply(user, amount))
            shares, sim = mb.supply(self.state, self.params, u, arr(float(amount)), self.now(), one)
        elif name in ("withdraw", "repay"):
            held = self.position(u)["supplyShares" if name == "withdraw" else "borrowShares"]
            if amount is None:
                code, _ = self.on_chain(lambda: getattr(self.blue, name)(user, shares=held))
            else:
                code, _ = self.on_chain(lambda: getattr(self.blue, name)(user, assets=amount))
            asked = arr(np.inf if amount is None else float(amount))
            _, sim = getattr(mb, name)(self.state, self.params, u, asked, self.now(), one)
        elif name == "borrow":
            code, _ = self.on_chain(lambda: self.blue.borrow(user, amount))
            sim = mb.borrow(self.state, self.params, arr(float(self.price)), u, arr(float(amount)), self.now(), one)
        elif name == "supply_collateral":
            code, _ = self.on_chain(lambda: self.blue.supply_collateral(user, amount))
            sim = mb.supply_collateral(self.state, u, arr(float(amount)), one)
        elif name == "withdraw_collateral":
            code, _ = self.on_chain(lambda: self.blue.withdraw_collateral(user, amount))
            price = arr(float(self.price))
            sim = mb.withdraw_collateral(self.state, self.params, price, u, arr(float(amount)), self.now(), one)
        else:
            assert amount is not None
            code, event = self.on_chain(lambda: self.blue.liquidate(self.liquidator, user, amount, extra))
            seized = float(self.state.collateral[0, u]) if amount == self.position(u)["collateral"] else amount
            out = mb.liquidate(
                self.state,
                self.params,
                arr(float(self.price)),
                u,
                arr(float(seized)),
                arr(float(extra)),
                self.now(),
                one,
            )
            sim = out[2]
            if code == 0:
                event = self.blue.liquidated(event)
                assert close(out[0][0], event["seized_assets"]) and close(out[1][0], event["repaid_assets"])
        assert int(sim[0]) == code, f"{name} by {u}: simulator code {int(sim[0])}, chain {code}"
        self.check()
        return code

    def check(self) -> None:
        chain = self.blue.market()
        s = self.state
        for key, sim, tolerance in (
            ("totalSupplyAssets", s.total_supply_assets[0], (1e-12, 2.0)),
            ("totalSupplyShares", s.total_supply_shares[0], (1e-11, SHARE_UNITS)),
            ("totalBorrowAssets", s.total_borrow_assets[0], (1e-12, 2.0)),
            ("totalBorrowShares", s.total_borrow_shares[0], (1e-9, SHARE_UNITS)),
            ("lastUpdate", s.last_update[0], (0.0, 0.0)),
        ):
            assert close(sim, chain[key], *tolerance), f"{key}: simulator {float(sim)!r}, chain {chain[key]}"
        if self.irm == "adaptive_curve":
            sim, stored = s.rate_at_target[0], self.rate_at_target()
            assert close(sim, stored), f"rateAtTarget: simulator {float(sim)!r}, chain {stored}"
        for u in range(len(self.users)):
            position = self.position(u)
            for key, sim, tolerance in (
                ("supplyShares", s.supply_shares[0, u], (1e-11, SHARE_UNITS)),
                ("borrowShares", s.borrow_shares[0, u], (1e-9, SHARE_UNITS)),
                ("collateral", s.collateral[0, u], (1e-12, 2.0)),
            ):
                assert close(sim, position[key], *tolerance), f"{key} of {u}: {float(sim)!r} vs {position[key]}"


@pytest.fixture(scope="module")
def chain_market():
    from envs.contracts.market import build_market
    from envs.evm.revm import PyrevmChain

    return build_market(PyrevmChain())


@pytest.fixture(params=mb.IRMS)
def twin(chain_market, request):
    snap = chain_market.chain.snapshot()
    yield Twin(chain_market, request.param)
    chain_market.chain.revert(snap)


def _whole(x: float) -> int:
    """A raw amount float64 holds exactly, so both sides take the same integer."""
    return int(np.floor(x))


@pytest.mark.parametrize("seed", range(4))
def test_random_stories_agree_with_the_morpho_bytecode(twin: Twin, seed: int):
    rng = np.random.default_rng(seed)
    twin.act("supply", 2, 10**12)  # the fee recipient's lasting supply and safe debt (see _random_run)
    twin.act("supply_collateral", 2, 10**21)
    twin.act("borrow", 2, 10**10)
    codes = []
    for _ in range(70):
        action = str(
            rng.choice(["supply", "withdraw", "borrow", "repay", "collat", "uncollat", "time", "price", "liq"])
        )
        u, frac, everything = int(rng.integers(2)), float(rng.uniform(0, 1.2)), bool(rng.random() < 0.3)
        position = twin.position(u)
        if action == "time":
            twin.chain.advance_time(int(rng.uniform(0, 40 * 86400)))
        elif action == "price":
            twin.price = _whole(twin.price * rng.uniform(0.8, 1.15))
            twin.blue.set_price(twin.price)
        elif action == "supply":
            codes.append(twin.act("supply", u, _whole(10 ** rng.uniform(8, 12))))
        elif action == "withdraw":
            codes.append(twin.act("withdraw", u, None if everything else _whole(frac * position["supplyShares"] / 1e6)))
        elif action == "borrow":
            codes.append(twin.act("borrow", u, _whole(10 ** rng.uniform(7, 10.5))))
        elif action == "repay":
            codes.append(twin.act("repay", u, None if everything else _whole(frac * position["borrowShares"] / 1e6)))
        elif action == "collat":
            codes.append(twin.act("supply_collateral", u, _whole(10 ** rng.uniform(16, 19.5))))
        elif action == "uncollat":
            codes.append(twin.act("withdraw_collateral", u, _whole(frac * position["collateral"] * 0.3)))
        elif rng.random() < 0.5:
            seized = position["collateral"] if everything else _whole(frac * position["collateral"])
            codes.append(twin.act("liquidate", u, seized))
        else:
            codes.append(twin.act("liquidate", u, 0, _whole(frac * position["borrowShares"])))
    assert 0 in codes and len(set(codes)) >= 3


def test_liquidations_and_bad_debt_agree_with_the_morpho_bytecode(twin: Twin):
    twin.act("supply", 2, 10**12)
    for u in (0, 1):
        twin.act("supply_collateral", u, 10**19)
        twin.act("borrow", u, 15 * 10**9)
    twin.chain.advance_time(90 * 86400)
    assert twin.act("liquidate", 0, 10**18) == errors.POSITION_IS_HEALTHY
    twin.price = 1700 * 10**24
    twin.blue.set_price(twin.price)
    assert twin.act("liquidate", 0, 10**18) == 0
    assert twin.act("liquidate", 0, 0, twin.position(0)["borrowShares"] // 4) == 0
    twin.price = 1000 * 10**24
    twin.blue.set_price(twin.price)
    assert twin.act("liquidate", 1, twin.position(1)["collateral"]) == 0  # all of it: the rest is bad debt
    assert twin.position(1)["borrowShares"] == 0
    assert twin.act("liquidate", 0, 0, 10**30) == errors.ARITHMETIC
    assert twin.act("withdraw", 2, None) == errors.INSUFFICIENT_LIQUIDITY
    assert twin.act("repay", 0, None) == 0
    assert twin.act("withdraw", 2, None) == 0
