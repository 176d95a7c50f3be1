"""Morpho Blue (npm @morpho-org/morpho-blue@1.0.0, src/Morpho.sol and its libraries), batched over a leading world axis."""
