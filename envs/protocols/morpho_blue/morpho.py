"""morpho-blue src/Morpho.sol, batched: N worlds, each one Morpho Blue market (a loan token, a collateral
token, an oracle, a rate model and an LLTV) with A accounts. The rate model is AdaptiveCurveIrm (Morpho's
mainnet model, envs.protocols.morpho_blue.adaptive_curve_irm) or the package's IrmMock (MorphoParams.irm). Each action accrues interest, converts
assets and shares with the contract's rounding, moves balances and checks health and liquidity in the
contract's order; a world whose call the contract would revert keeps its state and reports the ErrorsLib
code. Amounts are raw units in float64; ``price`` is the oracle's (N,) price, loan raw units per collateral
raw unit times 1e36 (assumed > 0); ``now`` is seconds, (N,) or a scalar, never before a world's last update.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple

from envs.arrays import Array
from envs.protocols import array_namespace
from envs.protocols.morpho_blue import adaptive_curve_irm, errors, irm_mock
from envs.protocols.morpho_blue.constants_lib import (
    LIQUIDATION_CURSOR,
    MAX_FEE,
    MAX_LIQUIDATION_INCENTIVE_FACTOR,
    ORACLE_PRICE_SCALE_FLOAT,
)
from envs.protocols.morpho_blue.math_lib import mul_div_down, mul_div_up, w_div_up, w_mul_down, w_taylor_compounded
from envs.protocols.morpho_blue.shares_math_lib import to_assets_down, to_assets_up, to_shares_down, to_shares_up
from envs.units import WAD

IRMS = ("adaptive_curve", "mock")  # MorphoParams.irm: AdaptiveCurveIrm or the package's IrmMock


def check_irm(irm: str) -> None:
    """A market's rate model is one of IRMS; another name fails, listing them."""
    if irm not in IRMS:
        raise ValueError(f"unknown Morpho IRM {irm!r}; choose one of {', '.join(map(repr, IRMS))}")


@dataclass(frozen=True)
class MorphoParams:
    """A market's parameters in the contract's units: ``lltv`` and ``fee`` WAD-scaled (0.86e18 = 86%);
    the fee's supply shares go to account ``fee_recipient`` (Morpho.feeRecipient; the last by default);
    ``irm`` is the market's rate model, one of IRMS."""

    lltv: float
    fee: float = 0.0
    fee_recipient: int = -1
    irm: str = "adaptive_curve"

    def __post_init__(self) -> None:
        if not 0 <= self.lltv < WAD:  # Morpho.enableLltv: MAX_LLTV_EXCEEDED
            raise ValueError(f"lltv must be in [0, 1e18), got {self.lltv!r}")
        if not 0 <= self.fee <= MAX_FEE:  # Morpho.setFee: MAX_FEE_EXCEEDED
            raise ValueError(f"fee must be in [0, {MAX_FEE}], got {self.fee!r}")
        check_irm(self.irm)


@dataclass
class MorphoState:
    # the market (IMorpho.Market), (N,)
    total_supply_assets: Array
    total_supply_shares: Array
    total_borrow_assets: Array
    total_borrow_shares: Array
    last_update: Array  # seconds
    # the rate model's state, (N,): AdaptiveCurveIrm.rateAtTarget (per second, WAD; 0 = not yet set)
    rate_at_target: Array
    # positions (IMorpho.Position), (N, A)
    supply_shares: Array
    borrow_shares: Array
    collateral: Array  # collateral token, raw

    def copy(self) -> "MorphoState":
        xp = array_namespace(self.total_supply_assets)
        return replace(self, **{f.name: xp.asarray(getattr(self, f.name), copy=True) for f in fields(self)})


class MarketTotals(NamedTuple):
    """A market's totals (the first four fields of IMorpho.Market), each (N,)."""

    total_supply_assets: Array
    total_supply_shares: Array
    total_borrow_assets: Array
    total_borrow_shares: Array


def initial_state(xp, n: int, accounts: int, now, device=None) -> MorphoState:
    """N freshly created markets (Morpho.createMarket at ``now``, a scalar or (N,): lastUpdate set, nothing
    supplied), each with ``accounts`` empty positions. createMarket calls the IRM's borrowRate once, which sets
    AdaptiveCurveIrm's rate at target to INITIAL_RATE_AT_TARGET (IrmMock ignores it)."""
    f = dict(dtype=xp.float64, device=device)
    return MorphoState(
        total_supply_assets=xp.zeros((n,), **f),
        total_supply_shares=xp.zeros((n,), **f),
        total_borrow_assets=xp.zeros((n,), **f),
        total_borrow_shares=xp.zeros((n,), **f),
        last_update=xp.zeros((n,), **f) + xp.asarray(now, **f),
        rate_at_target=xp.full((n,), float(adaptive_curve_irm.INITIAL_RATE_AT_TARGET), **f),
        supply_shares=xp.zeros((n, accounts), **f),
        borrow_shares=xp.zeros((n, accounts), **f),
        collateral=xp.zeros((n, accounts), **f),
    )


def liquidation_incentive_factor(lltv: float) -> float:
    """Morpho.liquidate's LIF = min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD.wDivDown(WAD -
    LIQUIDATION_CURSOR.wMulDown(WAD - lltv))), in WAD, computed in exact integers (it depends on lltv only)."""
    lltv_int = int(lltv)
    cursor_term = LIQUIDATION_CURSOR * (WAD - lltv_int) // WAD  # wMulDown
    return float(min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD * WAD // (WAD - cursor_term)))  # wDivDown


# --- interest ------------------------------------------------------------------------------------------


def _borrow_rate(state: MorphoState, params: MorphoParams, elapsed):
    """The IRM's borrowRate over ``elapsed`` seconds: (per-second rate in WAD, the rate at target it leaves)."""
    if params.irm == "mock":
        return irm_mock.borrow_rate(state.total_supply_assets, state.total_borrow_assets), state.rate_at_target
    return adaptive_curve_irm.borrow_rate(
        state.total_supply_assets, state.total_borrow_assets, state.rate_at_target, elapsed
    )


def _accrued(state: MorphoState, params: MorphoParams, now):
    """_accrueInterest's arithmetic without writing: (total supply assets, total supply shares, total borrow
    assets, fee shares, rate at target) after the interest from lastUpdate to ``now`` at the IRM's rate, fee
    shares minted at the supply totals less the fee (so the fee is not counted as already supplied). Where no
    time elapsed Morpho returns before calling the IRM, so the rate at target stays."""
    xp = array_namespace(state.total_supply_assets)
    elapsed = now - state.last_update
    rate, rate_at_target = _borrow_rate(state, params, elapsed)
    rate_at_target = xp.where(elapsed > 0, rate_at_target, state.rate_at_target)
    interest = w_mul_down(state.total_borrow_assets, w_taylor_compounded(rate, elapsed))
    interest = xp.where(elapsed > 0, interest, 0.0)  # elapsed == 0 returns early
    supply_assets = state.total_supply_assets + interest
    borrow_assets = state.total_borrow_assets + interest
    if params.fee > 0:
        fee_amount = w_mul_down(interest, params.fee)
        fee_shares = to_shares_down(fee_amount, supply_assets - fee_amount, state.total_supply_shares)
    else:
        fee_shares = xp.zeros_like(interest)
    return supply_assets, state.total_supply_shares + fee_shares, borrow_assets, fee_shares, rate_at_target


def _now(state: MorphoState, now):
    """``now`` as an (N,) float64 array on the state's device."""
    return state.last_update * 0.0 + now


def accrue_interest(state: MorphoState, params: MorphoParams, now) -> None:
    """Morpho._accrueInterest in every world: both totals grow by the interest, the fee recipient gets
    the fee's supply shares, lastUpdate becomes ``now``, and the IRM's borrowRate stores its rate at target."""
    now = _now(state, now)
    supply_assets, supply_shares, borrow_assets, fee_shares, rate_at_target = _accrued(state, params, now)
    state.total_supply_assets, state.total_supply_shares = supply_assets, supply_shares
    state.total_borrow_assets = borrow_assets
    state.supply_shares[:, params.fee_recipient] += fee_shares
    state.last_update = now
    state.rate_at_target = rate_at_target


def expected_totals(state: MorphoState, params: MorphoParams, now) -> MarketTotals:
    """MorphoBalancesLib.expectedMarketBalances: (total supply assets, total supply shares, total borrow
    assets, total borrow shares) as accrue_interest would leave them at ``now``, nothing written (the rate from
    the IRM's borrowRateView)."""
    supply_assets, supply_shares, borrow_assets, _, _ = _accrued(state, params, _now(state, now))
    return MarketTotals(supply_assets, supply_shares, borrow_assets, state.total_borrow_shares * 1.0)


# --- reads ---------------------------------------------------------------------------------------------


def borrowed_assets(state: MorphoState, account: int):
    """The account's debt at the stored totals, (N,): borrowShares.toAssetsUp (as _isHealthy reads it)."""
    return to_assets_up(state.borrow_shares[:, account], state.total_borrow_assets, state.total_borrow_shares)


def supplied_assets(state: MorphoState, account: int):
    """The account's supply at the stored totals, (N,): supplyShares.toAssetsDown (what a withdrawal of
    all its shares pays)."""
    return to_assets_down(state.supply_shares[:, account], state.total_supply_assets, state.total_supply_shares)


def expected_borrow_assets(state: MorphoState, params: MorphoParams, account: int, now):
    """MorphoBalancesLib.expectedBorrowAssets: the debt with interest accrued to ``now``, rounded up."""
    _, _, borrow_assets, borrow_shares = expected_totals(state, params, now)
    return to_assets_up(state.borrow_shares[:, account], borrow_assets, borrow_shares)


def expected_supply_assets(state: MorphoState, params: MorphoParams, account: int, now):
    """MorphoBalancesLib.expectedSupplyAssets: the supply with interest accrued to ``now``, rounded down
    (the fee recipient's own new fee shares are not counted in its position, as on chain)."""
    supply_assets, supply_shares, _, _ = expected_totals(state, params, now)
    return to_assets_down(state.supply_shares[:, account], supply_assets, supply_shares)


def max_borrow(state: MorphoState, params: MorphoParams, price, account: int):
    """Morpho._isHealthy's maxBorrow, (N,): collateral.mulDivDown(price, ORACLE_PRICE_SCALE).wMulDown(lltv)."""
    return w_mul_down(mul_div_down(state.collateral[:, account], price, ORACLE_PRICE_SCALE_FLOAT), params.lltv)


def is_healthy(state: MorphoState, params: MorphoParams, price, account: int):
    """Morpho._isHealthy, (N,) bools: maxBorrow >= borrowed at the stored totals (true without debt)."""
    return max_borrow(state, params, price, account) >= borrowed_assets(state, account)


# --- actions -------------------------------------------------------------------------------------------


def supply(state: MorphoState, params: MorphoParams, account: int, assets, now, mask):
    """Morpho.supply of ``assets`` (> 0) on behalf of ``account``; returns (shares minted, codes). Shares
    are assets.toSharesDown at the accrued totals."""
    xp = array_namespace(assets)
    _check(assets, mask, finite=True)
    code = xp.where(assets > 0, errors.OK, errors.INCONSISTENT_INPUT)  # exactlyOneZero(assets, 0)
    t = state.copy()
    accrue_interest(t, params, now)
    shares = to_shares_down(assets, t.total_supply_assets, t.total_supply_shares)
    t.supply_shares[:, account] += shares
    t.total_supply_shares += shares
    t.total_supply_assets += assets
    ok = _commit(state, t, code, mask)
    return xp.where(ok, shares, 0.0), _codes(code, mask)


def withdraw(state: MorphoState, params: MorphoParams, account: int, assets, now, mask):
    """Morpho.withdraw for ``account`` to itself; returns (assets withdrawn, codes). ``assets`` may be inf:
    all the supply shares it holds before the call (shares mode, paid toAssetsDown); otherwise it burns assets.toSharesUp. Reverts
    with an arithmetic panic past its shares, INSUFFICIENT_LIQUIDITY past the unborrowed supply."""
    xp = array_namespace(assets)
    _check(assets, mask, finite=False)
    every = xp.isinf(assets)
    asked = xp.where(every, 0.0, assets)
    held = state.supply_shares[:, account]  # as the caller reads it: fee shares accrued in the call stay
    code = xp.where(xp.where(every, held, asked) > 0, errors.OK, errors.INCONSISTENT_INPUT)  # exactlyOneZero
    t = state.copy()
    accrue_interest(t, params, now)
    shares = xp.where(every, held, to_shares_up(asked, t.total_supply_assets, t.total_supply_shares))
    paid = xp.where(every, to_assets_down(held, t.total_supply_assets, t.total_supply_shares), asked)
    code = _fail(code, shares > t.supply_shares[:, account], errors.ARITHMETIC)  # position.supplyShares -= shares
    code = _fail(code, paid > t.total_supply_assets, errors.ARITHMETIC)  # totalSupplyAssets -= assets
    t.supply_shares[:, account] -= shares
    t.total_supply_shares -= shares
    t.total_supply_assets -= paid
    code = _fail(code, t.total_borrow_assets > t.total_supply_assets, errors.INSUFFICIENT_LIQUIDITY)
    ok = _commit(state, t, code, mask)
    return xp.where(ok, paid, 0.0), _codes(code, mask)


def borrow(state: MorphoState, params: MorphoParams, price, account: int, assets, now, mask):
    """Morpho.borrow of ``assets`` (> 0) by ``account``; returns codes. It mints assets.toSharesUp of
    debt, then requires the position healthy (INSUFFICIENT_COLLATERAL) and the borrows covered by the
    supply (INSUFFICIENT_LIQUIDITY)."""
    xp = array_namespace(assets)
    _check(assets, mask, finite=True, price=price)
    code = xp.where(assets > 0, errors.OK, errors.INCONSISTENT_INPUT)
    t = state.copy()
    accrue_interest(t, params, now)
    shares = to_shares_up(assets, t.total_borrow_assets, t.total_borrow_shares)
    t.borrow_shares[:, account] += shares
    t.total_borrow_shares += shares
    t.total_borrow_assets += assets
    code = _fail(code, ~is_healthy(t, params, price, account), errors.INSUFFICIENT_COLLATERAL)
    code = _fail(code, t.total_borrow_assets > t.total_supply_assets, errors.INSUFFICIENT_LIQUIDITY)
    _commit(state, t, code, mask)
    return _codes(code, mask)


def repay(state: MorphoState, params: MorphoParams, account: int, assets, now, mask):
    """Morpho.repay of ``account``'s debt; returns (assets repaid, codes). ``assets`` may be inf: all its
    borrow shares (shares mode, paid toAssetsUp); otherwise it burns assets.toSharesDown, an arithmetic
    panic past its shares. The total borrow falls by the payment, floored at zero (zeroFloorSub)."""
    xp = array_namespace(assets)
    _check(assets, mask, finite=False)
    every = xp.isinf(assets)
    offered = xp.where(every, 0.0, assets)
    held = state.borrow_shares[:, account]
    code = xp.where(xp.where(every, held, offered) > 0, errors.OK, errors.INCONSISTENT_INPUT)  # exactlyOneZero
    t = state.copy()
    accrue_interest(t, params, now)
    shares = xp.where(every, held, to_shares_down(offered, t.total_borrow_assets, t.total_borrow_shares))
    paid = xp.where(every, to_assets_up(held, t.total_borrow_assets, t.total_borrow_shares), offered)
    code = _fail(code, shares > held, errors.ARITHMETIC)  # position.borrowShares -= shares
    t.borrow_shares[:, account] -= shares
    t.total_borrow_shares -= shares
    t.total_borrow_assets = xp.clip(t.total_borrow_assets - paid, 0.0, None)
    ok = _commit(state, t, code, mask)
    return xp.where(ok, paid, 0.0), _codes(code, mask)


def supply_collateral(state: MorphoState, account: int, assets, mask):
    """Morpho.supplyCollateral of ``assets`` (ZERO_ASSETS if 0) for ``account``; returns codes. Interest is
    not accrued (the contract skips it: collateral earns nothing)."""
    xp = array_namespace(assets)
    _check(assets, mask, finite=True)
    code = xp.where(assets > 0, errors.OK, errors.ZERO_ASSETS)
    t = state.copy()
    t.collateral[:, account] += assets
    _commit(state, t, code, mask)
    return _codes(code, mask)


def withdraw_collateral(state: MorphoState, params: MorphoParams, price, account: int, assets, now, mask):
    """Morpho.withdrawCollateral of ``assets`` (ZERO_ASSETS if 0) by ``account``; returns codes: an
    arithmetic panic past its collateral, INSUFFICIENT_COLLATERAL if it leaves the position unhealthy."""
    xp = array_namespace(assets)
    _check(assets, mask, finite=True, price=price)
    code = xp.where(assets > 0, errors.OK, errors.ZERO_ASSETS)
    t = state.copy()
    accrue_interest(t, params, now)
    code = _fail(code, assets > t.collateral[:, account], errors.ARITHMETIC)
    t.collateral[:, account] -= assets
    code = _fail(code, ~is_healthy(t, params, price, account), errors.INSUFFICIENT_COLLATERAL)
    _commit(state, t, code, mask)
    return _codes(code, mask)


def liquidate(state: MorphoState, params: MorphoParams, price, account: int, seized_assets, repaid_shares, now, mask):
    """Morpho.liquidate of ``account`` (the borrower); returns (collateral seized, loan assets repaid,
    codes). Exactly one of ``seized_assets`` and ``repaid_shares`` is nonzero (else INCONSISTENT_INPUT);
    the other follows at the liquidation incentive factor, each conversion rounded in the market's favour.
    A position left without collateral has its remaining debt written off against the suppliers."""
    xp = array_namespace(seized_assets)
    _check(seized_assets, mask, finite=True, price=price)
    _check(repaid_shares, mask, finite=True)
    by_seizure = seized_assets > 0
    code = xp.where(by_seizure != (repaid_shares > 0), errors.OK, errors.INCONSISTENT_INPUT)  # exactlyOneZero
    t = state.copy()
    accrue_interest(t, params, now)
    healthy = is_healthy(t, params, price, account)  # _isHealthy(..., price)
    code = _fail(code, healthy, errors.POSITION_IS_HEALTHY)
    lif = liquidation_incentive_factor(params.lltv)
    total_assets, total_shares = t.total_borrow_assets, t.total_borrow_shares
    # seizedAssets.mulDivUp(price, ORACLE_PRICE_SCALE).wDivUp(lif).toSharesUp(...)
    quoted = mul_div_up(seized_assets, price, ORACLE_PRICE_SCALE_FLOAT)
    shares_for_seizure = to_shares_up(w_div_up(quoted, lif), total_assets, total_shares)
    # repaidShares.toAssetsDown(...).wMulDown(lif).mulDivDown(ORACLE_PRICE_SCALE, price)
    incentive = w_mul_down(to_assets_down(repaid_shares, total_assets, total_shares), lif)
    seizure_for_shares = mul_div_down(
        incentive, ORACLE_PRICE_SCALE_FLOAT, xp.where(price > 0, price, 1.0)
    )  # worlds not acting
    repaid_shares = xp.where(by_seizure, shares_for_seizure, repaid_shares)
    seized_assets = xp.where(by_seizure, seized_assets, seizure_for_shares)
    repaid_assets = to_assets_up(repaid_shares, total_assets, total_shares)
    code = _fail(code, repaid_shares > t.borrow_shares[:, account], errors.ARITHMETIC)
    t.borrow_shares[:, account] -= repaid_shares
    t.total_borrow_shares -= repaid_shares
    t.total_borrow_assets = xp.clip(t.total_borrow_assets - repaid_assets, 0.0, None)  # zeroFloorSub
    code = _fail(code, seized_assets > t.collateral[:, account], errors.ARITHMETIC)
    t.collateral[:, account] -= seized_assets
    _realize_bad_debt(t, account)
    ok = _commit(state, t, code, mask)
    zero = xp.zeros_like(repaid_assets)
    return xp.where(ok, seized_assets, zero), xp.where(ok, repaid_assets, zero), _codes(code, mask)


def _realize_bad_debt(t: MorphoState, account: int) -> None:
    """Morpho.liquidate's bad debt: where the borrower has no collateral left, its remaining borrow shares
    (worth min(totalBorrowAssets, toAssetsUp)) leave both totals, the loss falling on the suppliers."""
    xp = array_namespace(t.total_borrow_assets)
    bad = t.collateral[:, account] == 0
    bad_shares = xp.where(bad, t.borrow_shares[:, account], 0.0)
    bad_assets = xp.minimum(
        t.total_borrow_assets, to_assets_up(bad_shares, t.total_borrow_assets, t.total_borrow_shares)
    )
    t.total_borrow_assets -= bad_assets
    t.total_supply_assets -= bad_assets
    t.total_borrow_shares -= bad_shares
    t.borrow_shares[:, account] -= bad_shares


# --- helpers -------------------------------------------------------------------------------------------


def _fail(code, condition, error: int):
    """The first failing require wins: ``error`` where ``condition`` holds and nothing failed before."""
    xp = array_namespace(code)
    return xp.where((code == errors.OK) & condition, error, code)


def _commit(state: MorphoState, trial: MorphoState, code, mask):
    """Keep ``trial``'s values in worlds where the action succeeded (a revert leaves a world untouched);
    returns those worlds."""
    xp = array_namespace(state.total_supply_assets)
    ok = mask & (code == errors.OK)
    # Every position is an account here, so where none holds shares the total is 0 on chain; float64 sums
    # of shares above 2**53 may leave a few shares of noise there, which would misprice the next mint.
    trial.total_supply_shares = xp.where(xp.all(trial.supply_shares == 0, axis=1), 0.0, trial.total_supply_shares)
    trial.total_borrow_shares = xp.where(xp.all(trial.borrow_shares == 0, axis=1), 0.0, trial.total_borrow_shares)
    for f in fields(state):
        new, old = getattr(trial, f.name), getattr(state, f.name)
        keep = ok.reshape((-1,) + (1,) * (new.ndim - 1))
        setattr(state, f.name, xp.where(keep, new, old))
    return ok


def _check(amount, mask, *, finite: bool, price=None) -> None:
    """Amounts are non-negative raw units (inf only where the action takes "all of it"); prices positive."""
    xp = array_namespace(amount)
    bad = ~(amount >= 0) | xp.isinf(amount) if finite else ~(amount >= 0)
    if bool(xp.any(mask & bad)):
        raise ValueError("Morpho amounts must be non-negative finite numbers of raw units (inf only for all shares)")
    if price is not None and bool(xp.any(mask & ~(price > 0))):
        raise ValueError("Morpho oracle prices must be positive")


def _codes(code, mask):
    xp = array_namespace(code)
    return xp.where(mask, code, 0)
