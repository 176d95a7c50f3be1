"""Uniswap V3 (v3-core contracts/libraries and UniswapV3Pool.sol), batched."""
