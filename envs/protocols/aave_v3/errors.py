"""aave-v3-core contracts/protocol/libraries/helpers/Errors.sol: the codes the simulator reports per
world where the contract would revert (0 = success)."""

from envs.protocols.errors import OK as OK  # success, the same code in every protocol

INVALID_MINT_AMOUNT = 24  # the scaled amount an aToken or debt token would mint rounds to zero
INVALID_BURN_AMOUNT = 25  # the scaled amount it would burn rounds to zero
INVALID_AMOUNT = 26
NOT_ENOUGH_AVAILABLE_USER_BALANCE = 32
COLLATERAL_BALANCE_IS_ZERO = 34
HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD = 35
COLLATERAL_CANNOT_COVER_NEW_BORROW = 36
NO_DEBT_OF_SELECTED_TYPE = 39
HEALTH_FACTOR_NOT_BELOW_THRESHOLD = 45
COLLATERAL_CANNOT_BE_LIQUIDATED = 46
SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER = 47
BORROW_CAP_EXCEEDED = 50
SUPPLY_CAP_EXCEEDED = 51
LTV_VALIDATION_FAILED = 57
NOT_ENOUGH_LIQUIDITY = 100  # the aToken cannot transfer: not an Errors.sol code, an ERC20 failure
