"""Uniswap V2 (v2-core UniswapV2Pair.sol, v2-periphery UniswapV2Library.sol), batched."""
