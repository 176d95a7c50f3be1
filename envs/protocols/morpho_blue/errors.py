"""morpho-blue src/libraries/ErrorsLib.sol: the revert reasons Morpho Blue raises, as the codes the simulator
reports per world where the contract would revert (0 = success); a chain's revert reason maps to the same code."""

from envs.protocols.errors import OK as OK  # success, the same code in every protocol

INCONSISTENT_INPUT = 1  # "inconsistent input": exactly one of assets and shares must be zero
ZERO_ASSETS = 2  # "zero assets"
INSUFFICIENT_COLLATERAL = 3  # "insufficient collateral": the position would be unhealthy
INSUFFICIENT_LIQUIDITY = 4  # "insufficient liquidity": borrowed would exceed supplied
POSITION_IS_HEALTHY = 5  # "position is healthy": nothing to liquidate
MARKET_NOT_CREATED = 6  # "market not created"
ARITHMETIC = 7  # a checked-arithmetic panic (0x11), e.g. repaying or withdrawing more shares than held

#: ErrorsLib's reason strings -> the codes above
REASONS = {
    "inconsistent input": INCONSISTENT_INPUT,
    "zero assets": ZERO_ASSETS,
    "insufficient collateral": INSUFFICIENT_COLLATERAL,
    "insufficient liquidity": INSUFFICIENT_LIQUIDITY,
    "position is healthy": POSITION_IS_HEALTHY,
    "market not created": MARKET_NOT_CREATED,
}
