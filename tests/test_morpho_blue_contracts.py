"""Morpho Blue compiled from @morpho-org/morpho-blue and deployed on both EVM rungs, checked against Morpho's
formulas restated here (src/Morpho.sol, src/libraries/MathLib.sol, SharesMathLib.sol, ConstantsLib.sol). Most
markets here run the package's IrmMock, whose rate these restatements use; the default rate model,
AdaptiveCurveIrm (compiled from envs/contracts/solidity/), is deployed and accrued here on both rungs too."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from fractions import Fraction

import pytest

from envs.contracts import artifacts, solc
from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import Market
from envs.contracts.morpho_blue import MorphoBlue, deploy_morpho_blue, error_code
from envs.contracts.tokens import Token
from envs.evm.chain import TransactionReverted
from envs.protocols.morpho_blue import errors
from tests.protocol_rules import (
    SECONDS_PER_YEAR as YEAR,
)
from tests.protocol_rules import (
    VIRTUAL_SHARES,
    WAD,
    irm_mock_rate,
    liquidation_incentive_factor,
    mul_div_up,
    to_assets_down,
    to_assets_up,
    to_shares_up,
    w_taylor_compounded,
)

LLTV = 860_000_000_000_000_000
USDC, WETH = 10**6, 10**18
PRICE = 2000 * USDC * 10**36 // WETH  # 2000 USDC per WETH on Morpho's 1e36 scale
LENDER, BORROWER, LIQUIDATOR = DEV_ACCOUNTS[4], DEV_ACCOUNTS[5], DEV_ACCOUNTS[6]


@dataclass
class Totals:
    """The market's totals as Morpho.sol moves them (fee 0: no fee shares)."""

    supply_assets: int
    supply_shares: int
    borrow_assets: int
    borrow_shares: int
    last: int

    def accrue(self, now: int) -> int:
        """Morpho._accrueInterest with IrmMock's rate (utilization / year); returns the interest."""
        rate = irm_mock_rate(self.supply_assets, self.borrow_assets)
        interest = self.borrow_assets * w_taylor_compounded(rate, now - self.last) // WAD
        self.borrow_assets += interest
        self.supply_assets += interest
        self.last = now
        return interest

    def as_stored(self) -> dict:
        return {
            "totalSupplyAssets": self.supply_assets,
            "totalSupplyShares": self.supply_shares,
            "totalBorrowAssets": self.borrow_assets,
            "totalBorrowShares": self.borrow_shares,
            "lastUpdate": self.last,
            "fee": 0,
        }


@pytest.fixture
def blue(market: Market) -> MorphoBlue:
    """A USDC-lent, WETH-collateralized Morpho market on IrmMock on the rung's local market (reverted after the
    test)."""
    return deploy_morpho_blue(market.chain, market.tokens["USDC"], market.tokens["WETH"], PRICE, irm="mock")


def fund(blue: MorphoBlue, user: str, token: Token, raw: int) -> None:
    token.mint(user, raw)
    blue.approve(user)


def reverts(action) -> int:
    with pytest.raises(TransactionReverted) as info:
        action()
    return error_code(info.value)


def test_market_is_created_with_its_params(blue: MorphoBlue) -> None:
    assert blue.morpho.call("idToMarketParams", blue.market_id) == tuple(
        a.lower() if isinstance(a, str) else a for a in blue.market_params
    )
    assert blue.morpho.call("owner") == DEV_ACCOUNTS[0].lower()
    assert blue.price() == 2000 * 10**24
    assert blue.market() == Totals(0, 0, 0, 0, blue.chain.timestamp()).as_stored()
    blue.set_price(1234)
    assert blue.price() == 1234


def test_supply_borrow_repay_withdraw_round_trip(blue: MorphoBlue) -> None:
    chain, usdc, weth = blue.chain, blue.loan, blue.collateral
    supplied, collateral, borrowed = 10_000 * USDC, 10 * WETH, 8_000 * USDC  # 80% utilization: 80% APR
    fund(blue, LENDER, usdc, supplied)
    fund(blue, BORROWER, weth, collateral)
    usdc_lender, weth_borrower, usdc_borrower = (
        usdc.balance_of(LENDER),
        weth.balance_of(BORROWER),
        usdc.balance_of(BORROWER),
    )

    blue.supply(LENDER, supplied)
    assert usdc.balance_of(LENDER) == usdc_lender - supplied
    assert usdc.balance_of(blue.morpho.address) == supplied
    lender_shares = supplied * VIRTUAL_SHARES  # toSharesDown on an empty market: assets * (0 + 1e6) / (0 + 1)
    assert blue.position(LENDER) == {"supplyShares": lender_shares, "borrowShares": 0, "collateral": 0}

    blue.supply_collateral(BORROWER, collateral)
    assert weth.balance_of(BORROWER) == weth_borrower - collateral
    assert weth.balance_of(blue.morpho.address) == collateral
    blue.borrow(BORROWER, borrowed)
    t_borrow = chain.timestamp()
    borrow_shares = borrowed * VIRTUAL_SHARES
    assert usdc.balance_of(BORROWER) == usdc_borrower + borrowed
    assert blue.position(BORROWER) == {"supplyShares": 0, "borrowShares": borrow_shares, "collateral": collateral}

    chain.advance_time(30 * 24 * 3600)
    usdc.mint(BORROWER, 1_000 * USDC)  # for the interest
    before = usdc.balance_of(BORROWER)
    blue.repay(BORROWER, shares=borrow_shares)
    elapsed = chain.timestamp() - t_borrow
    interest = borrowed * w_taylor_compounded(irm_mock_rate(supplied, borrowed), elapsed) // WAD
    # continuous compounding at 80% APR, which three Taylor terms approach from below
    assert interest / borrowed == pytest.approx(math.expm1(0.8 * elapsed / YEAR), rel=2e-5)
    assert interest < borrowed * math.expm1(0.8 * elapsed / YEAR)
    owed = to_assets_up(borrow_shares, borrowed + interest, borrow_shares)
    assert owed == borrowed + interest  # the virtual shares' part of the interest stays as bad debt of nobody
    assert usdc.balance_of(BORROWER) == before - owed
    assert blue.position(BORROWER)["borrowShares"] == 0

    blue.withdraw_collateral(BORROWER, collateral)
    assert weth.balance_of(BORROWER) == weth_borrower
    assert blue.position(BORROWER) == {"supplyShares": 0, "borrowShares": 0, "collateral": 0}

    blue.withdraw(LENDER, shares=lender_shares)
    got = to_assets_down(lender_shares, supplied + interest, lender_shares)
    assert supplied + interest - 1 <= got <= supplied + interest
    assert usdc.balance_of(LENDER) == usdc_lender - supplied + got
    assert blue.market() == Totals(supplied + interest - got, 0, 0, 0, chain.timestamp()).as_stored()


def test_borrow_limits_and_error_codes(blue: MorphoBlue) -> None:
    usdc, weth = blue.loan, blue.collateral
    fund(blue, LENDER, usdc, 10_000 * USDC)
    fund(blue, BORROWER, weth, 2 * WETH)
    blue.supply(LENDER, 10_000 * USDC)
    blue.supply_collateral(BORROWER, WETH)
    max_borrow = WETH * PRICE // 10**36 * LLTV // WAD  # Morpho._isHealthy: collateral value x LLTV, rounded down
    assert max_borrow == 1_720 * USDC
    assert reverts(lambda: blue.borrow(BORROWER, max_borrow + 1)) == errors.INSUFFICIENT_COLLATERAL
    blue.borrow(BORROWER, max_borrow)

    blue.supply_collateral(BORROWER, WETH)  # now 3,440 USDC of borrowing power, 1,720 used
    assert reverts(lambda: blue.liquidate(LIQUIDATOR, BORROWER, seized_assets=WETH // 10)) == errors.POSITION_IS_HEALTHY
    assert reverts(lambda: blue.withdraw(LENDER, 8_281 * USDC)) == errors.INSUFFICIENT_LIQUIDITY  # 8,280 not lent
    assert reverts(lambda: blue.repay(BORROWER, shares=max_borrow * VIRTUAL_SHARES + 1)) == errors.ARITHMETIC
    assert reverts(lambda: blue.withdraw(LENDER)) == errors.INCONSISTENT_INPUT
    assert reverts(lambda: blue.supply_collateral(BORROWER, 0)) == errors.ZERO_ASSETS


def test_borrow_more_than_supplied(blue: MorphoBlue) -> None:
    fund(blue, LENDER, blue.loan, 1_000 * USDC)
    fund(blue, BORROWER, blue.collateral, 10 * WETH)
    blue.supply(LENDER, 1_000 * USDC)
    blue.supply_collateral(BORROWER, 10 * WETH)
    assert reverts(lambda: blue.borrow(BORROWER, 1_000 * USDC + 1)) == errors.INSUFFICIENT_LIQUIDITY
    blue.borrow(BORROWER, 1_000 * USDC)
    assert blue.loan.balance_of(blue.morpho.address) == 0


def test_liquidation_seizes_repaid_times_incentive(blue: MorphoBlue) -> None:
    chain, usdc, weth = blue.chain, blue.loan, blue.collateral
    supplied, collateral, borrowed = 10_000 * USDC, WETH, 1_600 * USDC
    fund(blue, LENDER, usdc, supplied)
    fund(blue, BORROWER, weth, collateral)
    fund(blue, LIQUIDATOR, usdc, 5_000 * USDC)
    blue.supply(LENDER, supplied)
    blue.supply_collateral(BORROWER, collateral)
    blue.borrow(BORROWER, borrowed)
    totals = Totals(supplied, supplied * VIRTUAL_SHARES, borrowed, borrowed * VIRTUAL_SHARES, chain.timestamp())
    assert reverts(lambda: blue.liquidate(LIQUIDATOR, BORROWER, seized_assets=WETH // 10)) == errors.POSITION_IS_HEALTHY

    price = 1_800 * 10**24  # the borrowing power falls to 1,548 USDC, under the 1,600 owed
    blue.set_price(price)
    lif = liquidation_incentive_factor(LLTV)
    assert lif == math.floor(Fraction(WAD) / (1 - Fraction(3, 10) * (1 - Fraction(LLTV, WAD))))  # 1/0.958
    assert lif == 1_043_841_336_116_910_229

    # by seized collateral: repaid shares = seized value / LIF, in shares, rounded up (Morpho.liquidate)
    usdc0, weth0 = usdc.balance_of(LIQUIDATOR), weth.balance_of(LIQUIDATOR)
    seized = WETH // 5
    out = blue.liquidated(blue.liquidate(LIQUIDATOR, BORROWER, seized_assets=seized))
    totals.accrue(chain.timestamp())
    quoted = mul_div_up(seized, price, 10**36)
    assert quoted == 360 * USDC
    shares = to_shares_up(mul_div_up(quoted, WAD, lif), totals.borrow_assets, totals.borrow_shares)
    repaid = to_assets_up(shares, totals.borrow_assets, totals.borrow_shares)
    assert out == {
        "repaid_assets": repaid,
        "repaid_shares": shares,
        "seized_assets": seized,
        "bad_debt_assets": 0,
        "bad_debt_shares": 0,
    }
    assert abs(repaid * lif // WAD - quoted) <= 2  # the collateral seized is worth the debt repaid x LIF
    assert repaid == pytest.approx(360 * USDC / 1.0438413361169103, abs=3)  # up to 3 roundings up
    assert usdc.balance_of(LIQUIDATOR) == usdc0 - repaid
    assert weth.balance_of(LIQUIDATOR) == weth0 + seized
    totals.borrow_shares -= shares
    totals.borrow_assets -= repaid
    assert blue.position(BORROWER) == {
        "supplyShares": 0,
        "borrowShares": totals.borrow_shares,
        "collateral": collateral - seized,
    }
    assert blue.market() == totals.as_stored()

    # by repaid shares: seized = their assets (rounded down) x LIF, in collateral, rounded down
    shares = 100 * USDC * VIRTUAL_SHARES
    out = blue.liquidated(blue.liquidate(LIQUIDATOR, BORROWER, repaid_shares=shares))
    totals.accrue(chain.timestamp())
    assets_down = to_assets_down(shares, totals.borrow_assets, totals.borrow_shares)
    seized2 = assets_down * lif // WAD * 10**36 // price
    repaid2 = to_assets_up(shares, totals.borrow_assets, totals.borrow_shares)
    assert out["seized_assets"] == seized2 and out["repaid_assets"] == repaid2 and out["repaid_shares"] == shares
    assert 0 <= repaid2 - assets_down <= 1  # the liquidator pays the shares' assets rounded up, is paid on them down
    assert seized2 * price // 10**36 == pytest.approx(assets_down * 1.0438413361169103, abs=2)
    assert blue.position(BORROWER)["collateral"] == collateral - seized - seized2


def test_interest_accrues_by_the_irm_mock_rate(blue: MorphoBlue) -> None:
    chain = blue.chain
    supplied, borrowed = 10_000 * USDC, 8_000 * USDC
    fund(blue, LENDER, blue.loan, supplied)
    fund(blue, BORROWER, blue.collateral, 10 * WETH)
    blue.supply(LENDER, supplied)
    blue.supply_collateral(BORROWER, 10 * WETH)
    blue.borrow(BORROWER, borrowed)
    totals = Totals(supplied, supplied * VIRTUAL_SHARES, borrowed, borrowed * VIRTUAL_SHARES, chain.timestamp())

    chain.advance_time(YEAR)
    rate = borrowed * WAD // supplied // YEAR  # IrmMock: 80% utilization -> 80% APR, per second
    assert rate == 25_367_833_587
    assert blue.irm.call("borrowRateView", blue.market_params, blue.market_tuple()) == rate
    result = blue.accrue_interest()
    elapsed = chain.timestamp() - totals.last
    assert YEAR <= elapsed <= YEAR + 12  # a year, and the accruing transaction's own block
    interest = totals.accrue(chain.timestamp())
    (event,) = blue.morpho.events(result, "AccrueInterest")
    assert event["prevBorrowRate"] == rate and event["interest"] == interest
    assert blue.market() == totals.as_stored()
    # three Taylor terms of e^0.8 - 1: 0.8 + 0.32 + 0.08533 (x 8,000 USDC), short of e^0.8 - 1 = 1.2255
    assert interest == pytest.approx(borrowed * (0.8 + 0.32 + 0.512 / 6), rel=1e-5)
    assert blue.position(LENDER)["supplyShares"] == supplied * VIRTUAL_SHARES  # no fee: no shares minted


MORPHO_PACKAGE = "@morpho-org/morpho-blue"
MORPHO_FILES = ("Morpho.sol", "mocks/IrmMock.sol", "mocks/OracleMock.sol")


def test_compiled_once_with_recorded_settings() -> None:
    """The npm solc 0.8.19 output is cached with the settings it was made with; Morpho fits EIP-170's 24,576 B."""
    contracts = solc.compile_sources(solc.package_root(MORPHO_PACKAGE), MORPHO_FILES)
    cached = json.loads(solc.cached_output_path(solc.package_root(MORPHO_PACKAGE), MORPHO_FILES).read_text())
    assert cached["solc"].startswith("0.8.19+commit") and cached["npm_compiler"] == "0.8.19"
    assert cached["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    assert cached["settings"]["evmVersion"] == "paris" and cached["settings"]["viaIR"] is False
    assert {"Morpho", "IrmMock", "OracleMock", "EventsLib"} <= set(contracts)
    assert 0 < len(contracts["Morpho"].bytecode) < 24_576 + 1_000  # creation code: runtime plus the constructor
    events = {e["name"] for e in artifacts.load_artifact("Morpho").abi if e["type"] == "event"}
    assert {"Supply", "Borrow", "Liquidate", "AccrueInterest"} <= events


def test_missing_package_or_node_names_the_fix(tmp_path, monkeypatch) -> None:
    installed = solc.package_root(MORPHO_PACKAGE).parent
    monkeypatch.setenv("DEFIGYM_NODE_MODULES", str(tmp_path))
    with pytest.raises(solc.CompilerUnavailableError, match=r"morpho-blue .*not installed.*npm ci"):
        solc.compile_sources(solc.package_root(MORPHO_PACKAGE), MORPHO_FILES)
    artifacts.load_artifact.cache_clear()
    try:
        with pytest.raises(artifacts.MissingArtifactError, match=r"npm ci"):
            artifacts.load_artifact("Morpho")
    finally:
        artifacts.load_artifact.cache_clear()

    # the sources and the compiler package are there, node is not: nothing cached for this folder yet
    shutil.copytree(installed, tmp_path / MORPHO_PACKAGE)
    (tmp_path / "solc").mkdir()
    (tmp_path / "solc" / "package.json").write_text('{"version": "0.8.19"}')
    monkeypatch.setattr(solc.shutil, "which", lambda name: None)
    with pytest.raises(solc.CompilerUnavailableError, match=r"`node` is not on PATH.*make setup"):
        solc.compile_sources(solc.package_root(MORPHO_PACKAGE), MORPHO_FILES)


def test_compiles_on_a_cache_miss_then_reads_the_cache(tmp_path, monkeypatch) -> None:
    """A node_modules without a cache: the first call runs solc-js and writes the output, the next reads it."""
    shutil.copytree(solc.package_root(MORPHO_PACKAGE).parent, tmp_path / MORPHO_PACKAGE)
    (tmp_path / "solc").symlink_to(solc.node_modules_dir() / "solc")
    monkeypatch.setenv("DEFIGYM_NODE_MODULES", str(tmp_path))
    files = ("mocks/OracleMock.sol",)
    oracle = solc.compile_sources(solc.package_root(MORPHO_PACKAGE), files)["OracleMock"]
    cached = solc.cached_output_path(solc.package_root(MORPHO_PACKAGE), files)
    assert cached.parent == tmp_path / solc.CACHE_DIR and cached.is_file()
    assert [f["name"] for f in oracle.abi if f["type"] == "function"] == ["price", "setPrice"]

    solc._compile.cache_clear()
    monkeypatch.setattr(solc.subprocess, "run", lambda *a, **k: pytest.fail("compiled again despite the cache"))
    assert solc.compile_sources(solc.package_root(MORPHO_PACKAGE), files)["OracleMock"] == oracle


def test_the_default_rate_model_is_the_adaptive_curve_irm(market: Market) -> None:
    """deploy_morpho_blue's default IRM is AdaptiveCurveIrm bound to the Morpho it deployed: createMarket sets
    the initial rate at target (4% APR), accruals move it, at 0% utilization down; an unknown choice is refused."""
    from envs.protocols.morpho_blue import adaptive_curve_irm as acm

    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    with pytest.raises(ValueError, match=r"'adaptive_curve', 'mock'"):
        deploy_morpho_blue(market.chain, usdc, weth, PRICE, irm="linear")
    blue = deploy_morpho_blue(market.chain, usdc, weth, PRICE)
    assert blue.irm.artifact == "AdaptiveCurveIrm"
    assert blue.irm.call("MORPHO").lower() == blue.morpho.address.lower()
    assert blue.morpho.call("isIrmEnabled", blue.irm.address)
    assert blue.irm.call("rateAtTarget", blue.market_id) == acm.INITIAL_RATE_AT_TARGET
    # nothing borrowed: utilization 0, err = -1, the curve's quarter of the rate at target, which then falls
    assert blue.irm.call("borrowRateView", blue.market_params, blue.market_tuple()) == acm.INITIAL_RATE_AT_TARGET // 4
    blue.chain.advance_time(30 * 24 * 3600)
    assert blue.irm.call("borrowRateView", blue.market_params, blue.market_tuple()) < acm.INITIAL_RATE_AT_TARGET // 4
    blue.accrue_interest()
    assert 0 < blue.irm.call("rateAtTarget", blue.market_id) < acm.INITIAL_RATE_AT_TARGET


LOCAL_FILES = ("AdaptiveCurveIrm.sol",)


def test_project_sources_compile_once_against_the_package_interfaces() -> None:
    """envs/contracts/solidity/ compiles with the npm solc against the Morpho package's interfaces, cached with
    its settings and the imported package's sources in the key."""
    contracts = solc.compile_sources(solc.LOCAL_SOURCES, LOCAL_FILES, (MORPHO_PACKAGE,))
    cached = solc.cached_output_path(solc.LOCAL_SOURCES, LOCAL_FILES, (MORPHO_PACKAGE,))
    raw = json.loads(cached.read_text())
    assert raw["solc"].startswith("0.8.19+commit") and raw["imported"] == [MORPHO_PACKAGE]
    assert {"AdaptiveCurveIrm", "ExpLib", "SignedWadMath"} <= set(contracts)
    functions = {f["name"] for f in contracts["AdaptiveCurveIrm"].abi if f["type"] == "function"}
    assert {"borrowRate", "borrowRateView", "rateAtTarget", "MORPHO"} <= functions


def test_an_import_of_a_package_the_compile_does_not_list_is_refused(tmp_path) -> None:
    """The cache key hashes the listed packages' sources only, so an npm-path import of another package fails,
    naming the fix, instead of compiling against sources a changed package would not invalidate."""
    (tmp_path / "UsesIrm.sol").write_text(
        "// SPDX-License-Identifier: GPL-2.0-or-later\npragma solidity 0.8.19;\n"
        f'import {{IIrm}} from "{MORPHO_PACKAGE}/src/interfaces/IIrm.sol";\n'
        "abstract contract UsesIrm is IIrm {}\n"
    )
    with pytest.raises(solc.CompileError, match=r"does not list in imports \[\].*add it"):
        solc.compile_sources(tmp_path, ("UsesIrm.sol",))
    assert "UsesIrm" in solc.compile_sources(tmp_path, ("UsesIrm.sol",), (MORPHO_PACKAGE,))
