"""The one interface every role implements, so one episode loop and one block serve them all:

- ``reset(market, elapsed=0.0) -> observation``: an episode starts; the role reads what it tracks.
- ``act(market, action) -> Receipt``: the agent's transactions in the block (checked against the
  action space), and what they cost and earned.
- ``observe(market, elapsed) -> observation``: the block is done; the role reads the market once,
  updates what it tracks across blocks (volatility, views, the liquidator's candidates) and
  returns the observation. Called once per block, after ``act`` and before ``score``.
- ``score(market, receipt) -> (reward, info)``: the block's reward from what ``observe`` read and
  what ``act`` returned.

``elapsed`` is the share of the episode gone (the LP observes it). Everything is batched over the
worlds' leading axis; the live adapter calls ``reset`` and ``observe`` on the chain's market.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces


@dataclass
class Receipt:
    """What an agent's transactions in one block did, per world: gas paid (USD), profit they settled
    themselves (USD before gas: an arbitrage, a liquidation; zero for positions marked to market in
    ``score``), and facts for the info dict (``traded``, ``liquidated``, ...)."""

    gas_usd: np.ndarray
    profit_usd: np.ndarray | None = None
    info: dict[str, np.ndarray] = field(default_factory=dict)

    def with_gas(self, gas_usd: np.ndarray) -> "Receipt":
        """The same receipt with the gas replaced (e.g. a priority fee added by the block)."""
        return Receipt(gas_usd, self.profit_usd, self.info)


@runtime_checkable
class Role(Protocol):
    """A role: its spaces and named observation features, and the four calls above. Every role implements it
    by inheriting ``envs.roles.role.RoleBase``."""

    @property
    def features(self) -> tuple[tuple[str, str, str], ...]: ...

    def feature_index(self, name: str) -> int: ...

    @property
    def observation_space(self) -> spaces.Box: ...

    @property
    def action_space(self) -> spaces.Space: ...

    def reset(self, market: Any, elapsed: float = 0.0) -> np.ndarray: ...

    def act(self, market: Any, action: Any) -> Receipt: ...

    def observe(self, market: Any, elapsed: float = 0.0) -> np.ndarray: ...

    def score(self, market: Any, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...
