"""Protocol mechanics, one module per on-chain library, batched over a leading world axis.

Each function restates its Solidity counterpart in float64 on the contract's own raw units
(token amounts in their smallest unit, V3 sqrt prices as sqrtPriceX96 / 2**96, Aave indexes as
ray / 1e27), written against the array-API namespace so it runs on numpy and torch alike.
"""
