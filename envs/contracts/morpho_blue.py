"""Morpho Blue on an EVM rung: one market of the singleton Morpho contract, compiled from @morpho-org/morpho-blue.

The market's oracle is the package's OracleMock (a settable price, as the Aave market's aggregators are). Its
rate model is, by default, AdaptiveCurveIrm (the model Morpho's mainnet markets use, restated from its
specification in envs/contracts/solidity/), or the package's IrmMock (x% utilization borrows at x% APR).
"""

from __future__ import annotations

from dataclasses import dataclass

import eth_abi
from eth_utils import keccak

from envs.contracts.accounts import DEPLOYER
from envs.contracts.contract import Contract, deploy
from envs.contracts.tokens import Token
from envs.evm.chain import Chain, TransactionReverted, TxResult
from envs.protocols.morpho_blue import errors
from envs.protocols.morpho_blue import morpho as morpho_math

DEFAULT_LLTV = 860_000_000_000_000_000  # 86%, one of the LLTVs Morpho governance enabled on mainnet
#: OracleMock keeps its price in storage slot 0 (`uint256 public price`, its only state)
ORACLE_PRICE_SLOT = 0
PANIC_ARITHMETIC = "panic 0x11"  # Panic(0x11) as the chains decode it: checked arithmetic over/underflowed
#: Solidity's MarketParams struct (src/interfaces/IMorpho.sol): loanToken, collateralToken, oracle, irm, lltv
_MARKET_PARAMS_TYPES = ["address", "address", "address", "address", "uint256"]
_MARKET_FIELDS = (
    "totalSupplyAssets",
    "totalSupplyShares",
    "totalBorrowAssets",
    "totalBorrowShares",
    "lastUpdate",
    "fee",
)
_POSITION_FIELDS = ("supplyShares", "borrowShares", "collateral")
#: deploy_morpho_blue's ``irm`` choices -> the artifact deployed
IRMS = dict(zip(morpho_math.IRMS, ("AdaptiveCurveIrm", "IrmMock")))


def error_code(err: TransactionReverted) -> int:
    """The envs.protocols.morpho_blue.errors code of a Morpho revert (its ErrorsLib reason, or a checked-arithmetic
    panic); -1 for any other revert."""
    if err.reason == PANIC_ARITHMETIC:
        return errors.ARITHMETIC
    return errors.REASONS.get(err.reason, -1)


@dataclass
class MorphoBlue:
    """One Morpho Blue market (``loan`` lent against ``collateral``) and the contracts it runs on."""

    morpho: Contract
    oracle: Contract
    irm: Contract
    loan: Token
    collateral: Token
    lltv: int

    @property
    def chain(self) -> Chain:
        return self.morpho.chain

    @property
    def market_params(self) -> tuple[str, str, str, str, int]:
        return (self.loan.address, self.collateral.address, self.oracle.address, self.irm.address, self.lltv)

    @property
    def market_id(self) -> bytes:
        """MarketParamsLib.id: keccak256(abi.encode(marketParams))."""
        return keccak(eth_abi.encode(_MARKET_PARAMS_TYPES, list(self.market_params)))

    # --- oracle -----------------------------------------------------------------------------
    def set_price(self, price: int) -> None:
        """Move the oracle to ``price`` (loan raw units per collateral raw unit, times ORACLE_PRICE_SCALE)."""
        if price <= 0:
            raise ValueError(f"Morpho oracle price must be positive, got {price}")
        self.chain.set_storage(self.oracle.address, ORACLE_PRICE_SLOT, price)

    def price(self) -> int:
        return self.oracle.call("price")

    # --- user actions: sent by ``user``, on its own behalf and to itself ---------------------
    def approve(self, user: str) -> None:
        """Give Morpho an unlimited allowance of the loan and the collateral token from ``user``."""
        self.loan.approve(user, self.morpho.address)
        self.collateral.approve(user, self.morpho.address)

    def supply(self, user: str, assets: int) -> TxResult:
        return self.morpho.transact("supply", self.market_params, assets, 0, user, b"", sender=user)

    def withdraw(self, user: str, assets: int = 0, shares: int = 0) -> TxResult:
        """Withdraw ``assets`` or, when it is 0, ``shares`` of the loan token (Morpho needs exactly one nonzero)."""
        return self.morpho.transact("withdraw", self.market_params, assets, shares, user, user, sender=user)

    def borrow(self, user: str, assets: int) -> TxResult:
        return self.morpho.transact("borrow", self.market_params, assets, 0, user, user, sender=user)

    def repay(self, user: str, assets: int = 0, shares: int = 0) -> TxResult:
        """Repay ``assets`` or, when it is 0, ``shares`` of debt (repaying all debt takes its shares)."""
        return self.morpho.transact("repay", self.market_params, assets, shares, user, b"", sender=user)

    def supply_collateral(self, user: str, assets: int) -> TxResult:
        return self.morpho.transact("supplyCollateral", self.market_params, assets, user, b"", sender=user)

    def withdraw_collateral(self, user: str, assets: int) -> TxResult:
        return self.morpho.transact("withdrawCollateral", self.market_params, assets, user, user, sender=user)

    def liquidate(self, liquidator: str, borrower: str, seized_assets: int = 0, repaid_shares: int = 0) -> TxResult:
        """Seize ``seized_assets`` of ``borrower``'s collateral, or repay ``repaid_shares`` of its debt."""
        return self.morpho.transact(
            "liquidate", self.market_params, borrower, seized_assets, repaid_shares, b"", sender=liquidator
        )

    def liquidated(self, result: TxResult) -> dict:
        """A liquidation's Liquidate event: repaid_assets, repaid_shares, seized_assets, bad_debt_assets and
        bad_debt_shares."""
        (ev,) = self.morpho.events(result, "Liquidate")
        return {
            "repaid_assets": ev["repaidAssets"],
            "repaid_shares": ev["repaidShares"],
            "seized_assets": ev["seizedAssets"],
            "bad_debt_assets": ev["badDebtAssets"],
            "bad_debt_shares": ev["badDebtShares"],
        }

    def accrue_interest(self) -> TxResult:
        return self.morpho.transact("accrueInterest", self.market_params, sender=DEPLOYER)

    # --- reads ------------------------------------------------------------------------------
    def market_tuple(self) -> tuple[int, ...]:
        """The Market struct as stored (what an IRM's borrowRate is given): the fields of :meth:`market`, in order."""
        return tuple(self.morpho.call("market", self.market_id))

    def market(self) -> dict:
        """The market's totals (assets and shares supplied and borrowed), lastUpdate and fee, as stored."""
        return dict(zip(_MARKET_FIELDS, self.market_tuple()))

    def position(self, user: str) -> dict:
        return dict(zip(_POSITION_FIELDS, self.morpho.call("position", self.market_id, user)))


def deploy_morpho_blue(
    chain: Chain, loan: Token, collateral: Token, price: int, lltv: int = DEFAULT_LLTV, irm: str = "adaptive_curve"
) -> MorphoBlue:
    """Deploy Morpho (owned by the deployer), OracleMock at ``price`` and the rate model ``irm`` (one of IRMS:
    "adaptive_curve", bound to this Morpho, or "mock"); enable the IRM and ``lltv`` and create the
    ``loan``/``collateral`` market, as Morpho governance and a market creator would."""
    morpho_math.check_irm(irm)
    morpho = deploy(chain, "Morpho", DEPLOYER, sender=DEPLOYER)
    oracle = deploy(chain, "OracleMock", sender=DEPLOYER)
    irm_args = (morpho.address,) if irm == "adaptive_curve" else ()
    rate_model = deploy(chain, IRMS[irm], *irm_args, sender=DEPLOYER)
    blue = MorphoBlue(morpho, oracle, rate_model, loan, collateral, lltv)
    blue.set_price(price)
    morpho.transact("enableIrm", rate_model.address, sender=DEPLOYER)
    morpho.transact("enableLltv", lltv, sender=DEPLOYER)
    morpho.transact("createMarket", blue.market_params, sender=DEPLOYER)
    return blue
