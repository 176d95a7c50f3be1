"""morpho-blue src/libraries/ConstantsLib.sol: the market-wide constants, exact integers as the contract has
them (the batched float64 math takes float(...) of them where it needs a float)."""

MAX_FEE = 25 * 10**16  # 0.25 WAD: the largest share of interest a market may take as fee
ORACLE_PRICE_SCALE = 10**36  # an oracle price is loan raw units per collateral raw unit times 1e36
ORACLE_PRICE_SCALE_FLOAT = float(ORACLE_PRICE_SCALE)  # the batched float64 math's
LIQUIDATION_CURSOR = 3 * 10**17  # 0.3 WAD: how fast the incentive grows as the LLTV falls
MAX_LIQUIDATION_INCENTIVE_FACTOR = 115 * 10**16  # 1.15 WAD: the incentive's cap
