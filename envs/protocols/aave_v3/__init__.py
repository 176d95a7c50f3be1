"""Aave V3 (aave-v3-core 1.19 contracts/protocol/libraries/logic and pool), batched."""
