"""The accounts the live-adapter tests act with on the served local mainnet (anvil's well-known
development keys only)."""

from __future__ import annotations

from envs.contracts.accounts import DEV_ACCOUNTS

AGENT = DEV_ACCOUNTS[4]
AGENT_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"  # anvil's well-known dev key #4
WHALE = DEV_ACCOUNTS[2]
