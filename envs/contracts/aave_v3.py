"""Aave V3 on an EVM rung, deployed from @aave/core-v3 the way the protocol's own deploy scripts do.

Pool and PoolConfigurator live behind the addresses provider's proxies; Pool is linked to its
seven logic libraries. Prices come from AaveOracle reading one MockAggregator per asset.
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.assets import AaveReserveParams
from envs.contracts.accounts import DEPLOYER, TREASURY
from envs.contracts.contract import Contract, deploy
from envs.contracts.tokens import Token
from envs.evm.chain import Chain, TransactionReverted, TxResult
from envs.units import BASE_UNIT, MAX_UINT256

VARIABLE_RATE_MODE = 2  # DataTypes.InterestRateMode.VARIABLE
#: MockAggregator keeps its answer in storage slot 0 (`int256 private _latestAnswer`)
AGGREGATOR_ANSWER_SLOT = 0
ZERO = "0x" + "00" * 20
POOL_LIBRARIES = ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic", "PoolLogic")


def error_code(err: TransactionReverted) -> int:
    """The Errors.sol code a Pool revert carries (its reason is the code's digits); -1 for any other revert."""
    return int(err.reason) if err.reason.isdigit() else -1


@dataclass
class AaveV3:
    addresses_provider: Contract
    acl_manager: Contract
    pool: Contract
    configurator: Contract
    oracle: Contract
    data_provider: Contract
    aggregators: dict[str, Contract]  # symbol -> its price feed

    @property
    def chain(self) -> Chain:
        return self.pool.chain

    # --- oracle -----------------------------------------------------------------------------
    def set_price(self, symbol: str, price_usd_8dec: int) -> None:
        """Move ``symbol``'s feed to a new USD price (8 decimals), as a Chainlink round would."""
        if price_usd_8dec <= 0:
            raise ValueError(f"oracle price of {symbol} must be positive, got {price_usd_8dec}")
        self.chain.set_storage(self.aggregators[symbol].address, AGGREGATOR_ANSWER_SLOT, price_usd_8dec)

    def price(self, token: Token) -> int:
        return self.oracle.call("getAssetPrice", token.address)

    # --- user actions -----------------------------------------------------------------------
    def supply(self, user: str, token: Token, raw: int) -> TxResult:
        token.approve(user, self.pool.address)
        return self.pool.transact("supply", token.address, raw, user, 0, sender=user)

    def withdraw(self, user: str, token: Token, raw: int = MAX_UINT256) -> TxResult:
        return self.pool.transact("withdraw", token.address, raw, user, sender=user)

    def borrow(self, user: str, token: Token, raw: int) -> TxResult:
        return self.pool.transact("borrow", token.address, raw, VARIABLE_RATE_MODE, 0, user, sender=user)

    def repay(self, user: str, token: Token, raw: int = MAX_UINT256) -> TxResult:
        token.approve(user, self.pool.address)
        return self.pool.transact("repay", token.address, raw, VARIABLE_RATE_MODE, user, sender=user)

    def liquidation_call(
        self,
        liquidator: str,
        collateral: Token,
        debt: Token,
        user: str,
        debt_to_cover: int,
        receive_atoken: bool = False,
    ) -> dict:
        """Liquidate ``user``; returns the pool's LiquidationCall event (debt repaid, collateral seized)."""
        debt.approve(liquidator, self.pool.address)
        result = self.pool.transact(
            "liquidationCall", collateral.address, debt.address, user, debt_to_cover, receive_atoken, sender=liquidator
        )
        (ev,) = self.pool.events(result, "LiquidationCall")
        return ev

    # --- reads ------------------------------------------------------------------------------
    def user_account_data(self, user: str) -> dict:
        names = (
            "total_collateral_base",
            "total_debt_base",
            "available_borrows_base",
            "current_liquidation_threshold",
            "ltv",
            "health_factor",
        )
        return dict(zip(names, self.pool.call("getUserAccountData", user)))

    def reserve_data(self, token: Token) -> dict:
        names = (
            "unbacked",
            "accrued_to_treasury_scaled",
            "total_atoken",
            "total_stable_debt",
            "total_variable_debt",
            "liquidity_rate",
            "variable_borrow_rate",
            "stable_borrow_rate",
            "average_stable_borrow_rate",
            "liquidity_index",
            "variable_borrow_index",
            "last_update_timestamp",
        )
        return dict(zip(names, self.data_provider.call("getReserveData", token.address)))

    def reserve_usage(self, token: Token) -> tuple[int, int]:
        """(cash the aToken holds, total variable debt), raw: the reserve's utilization is debt / (cash + debt)."""
        a_token = self.data_provider.call("getReserveTokensAddresses", token.address)[0]
        return token.balance_of(a_token), self.reserve_data(token)["total_variable_debt"]

    # --- configuration ----------------------------------------------------------------------
    def set_rate_curve(self, token: Token, params: AaveReserveParams) -> None:
        """Give ``token``'s reserve ``params``' rate curve (a new DefaultReserveInterestRateStrategy) and
        reserve factor, as a governance payload does; the pool admin (the deployer) sends it."""
        strategy = deploy_rate_strategy(self.chain, self.addresses_provider.address, params)
        self.configurator.transact(
            "setReserveInterestRateStrategyAddress", token.address, strategy.address, sender=DEPLOYER
        )
        self.configurator.transact("setReserveFactor", token.address, params.reserve_factor, sender=DEPLOYER)

    def user_reserve_data(self, token: Token, user: str) -> dict:
        names = (
            "current_atoken_balance",
            "current_stable_debt",
            "current_variable_debt",
            "principal_stable_debt",
            "scaled_variable_debt",
            "stable_borrow_rate",
            "liquidity_rate",
            "stable_rate_last_updated",
            "usage_as_collateral_enabled",
        )
        return dict(zip(names, self.data_provider.call("getUserReserveData", token.address, user)))


def deploy_rate_strategy(chain: Chain, provider: str, p: AaveReserveParams) -> Contract:
    """A DefaultReserveInterestRateStrategy with ``p``'s variable-rate curve (stable borrowing is off on V3 Ethereum)."""
    return deploy(
        chain,
        "DefaultReserveInterestRateStrategy",
        provider,
        p.optimal_usage_ratio,
        p.base_variable_borrow_rate,
        p.variable_rate_slope1,
        p.variable_rate_slope2,
        0,
        0,
        0,
        0,
        0,
        sender=DEPLOYER,
    )


def deploy_aave_v3(chain: Chain, tokens: dict[str, Token], params: dict[str, AaveReserveParams]) -> AaveV3:
    """A full Aave V3 market with one reserve per entry of ``params`` (keys are token symbols)."""
    provider = deploy(chain, "PoolAddressesProvider", "defigym local", DEPLOYER, sender=DEPLOYER)
    provider.transact("setACLAdmin", DEPLOYER, sender=DEPLOYER)
    acl = deploy(chain, "ACLManager", provider.address, sender=DEPLOYER)
    provider.transact("setACLManager", acl.address, sender=DEPLOYER)
    acl.transact("addPoolAdmin", DEPLOYER, sender=DEPLOYER)

    libs = {name: deploy(chain, name, sender=DEPLOYER).address for name in POOL_LIBRARIES}
    libs["FlashLoanLogic"] = deploy(
        chain, "FlashLoanLogic", sender=DEPLOYER, libraries={"BorrowLogic": libs["BorrowLogic"]}
    ).address
    pool_impl = deploy(chain, "Pool", provider.address, sender=DEPLOYER, libraries=libs)
    provider.transact("setPoolImpl", pool_impl.address, sender=DEPLOYER)
    pool = Contract(chain, provider.call("getPool"), "Pool")

    configurator_logic = deploy(chain, "ConfiguratorLogic", sender=DEPLOYER).address
    configurator_impl = deploy(
        chain, "PoolConfigurator", sender=DEPLOYER, libraries={"ConfiguratorLogic": configurator_logic}
    )
    provider.transact("setPoolConfiguratorImpl", configurator_impl.address, sender=DEPLOYER)
    configurator = Contract(chain, provider.call("getPoolConfigurator"), "PoolConfigurator")

    symbols = list(params)
    aggregators = {s: deploy(chain, "MockAggregator", params[s].price_usd_8dec, sender=DEPLOYER) for s in symbols}
    oracle = deploy(
        chain,
        "AaveOracle",
        provider.address,
        [tokens[s].address for s in symbols],
        [aggregators[s].address for s in symbols],
        ZERO,
        ZERO,
        int(BASE_UNIT),  # BASE_CURRENCY_UNIT: USD with 8 decimals
        sender=DEPLOYER,
    )
    provider.transact("setPriceOracle", oracle.address, sender=DEPLOYER)
    data_provider = deploy(chain, "AaveProtocolDataProvider", provider.address, sender=DEPLOYER)
    provider.transact("setPoolDataProvider", data_provider.address, sender=DEPLOYER)

    a_impl = deploy(chain, "AToken", pool.address, sender=DEPLOYER)
    stable_impl = deploy(chain, "StableDebtToken", pool.address, sender=DEPLOYER)
    variable_impl = deploy(chain, "VariableDebtToken", pool.address, sender=DEPLOYER)
    inputs = []
    for s in symbols:
        p = params[s]
        strategy = deploy_rate_strategy(chain, provider.address, p)
        inputs.append(
            (
                a_impl.address,
                stable_impl.address,
                variable_impl.address,
                p.decimals,
                strategy.address,
                tokens[s].address,
                TREASURY,
                ZERO,
                f"Aave {s}",
                f"a{s}",
                f"Aave Variable Debt {s}",
                f"variableDebt{s}",
                f"Aave Stable Debt {s}",
                f"stableDebt{s}",
                b"",
            )
        )
    configurator.transact("initReserves", inputs, sender=DEPLOYER)
    for s in symbols:
        p, asset = params[s], tokens[s].address
        configurator.transact(
            "configureReserveAsCollateral", asset, p.ltv, p.liquidation_threshold, p.liquidation_bonus, sender=DEPLOYER
        )
        configurator.transact("setReserveBorrowing", asset, True, sender=DEPLOYER)
        configurator.transact("setReserveFactor", asset, p.reserve_factor, sender=DEPLOYER)
        configurator.transact("setLiquidationProtocolFee", asset, p.liquidation_protocol_fee, sender=DEPLOYER)
        configurator.transact("setSupplyCap", asset, p.supply_cap, sender=DEPLOYER)
        configurator.transact("setBorrowCap", asset, p.borrow_cap, sender=DEPLOYER)
    return AaveV3(provider, acl, pool, configurator, oracle, data_provider, aggregators)
