"""The one interface every role implements (``Role``), so one episode loop and one block serve them all:

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

The spaces and named features are written once here: a role names its observation's features (``FEATURES``,
or a ``features`` property where they depend on the instance, like the liquidator's slots); its observation
space is an unbounded float32 Box with one entry per feature, and ``feature_index`` finds a feature's column by
name, so a policy reads observations by name, not by position. Its action space is ``Discrete(1 + choices)``
(0 does nothing) or, for a role whose ``action_type`` is ``"continuous"``, its ``CONTINUOUS_ACTION_SPACE``;
``choices`` is also the highest discrete action its ``decode`` accepts, so the two cannot drift apart.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from envs.assets.gas import units_usd
from envs.roles.actions import feature_box

#: one observation feature: (name, meaning, unit)
Feature = tuple[str, str, str]


@dataclass
class Receipt:
    """What an agent's transactions in one block did, per world: the gas units they used, what that gas cost in
    USD, the profit they settled themselves (USD before gas: an arbitrage, a liquidation; zero for positions
    marked to market in ``score``), and facts for the info dict (``traded``, ``liquidated``, ...)."""

    gas_units: np.ndarray
    gas_usd: np.ndarray
    profit_usd: np.ndarray | None = None
    info: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def priced(
        cls,
        gas_units: np.ndarray,
        gas_price_gwei: float,
        eth_usd: np.ndarray,
        profit_usd: np.ndarray | None = None,
        info: dict[str, np.ndarray] | None = None,
    ) -> "Receipt":
        """A receipt whose ``gas_units`` paid ``gas_price_gwei`` each, in USD at ``eth_usd``."""
        return cls(gas_units, units_usd(gas_units, gas_price_gwei, eth_usd), profit_usd, info or {})

    def with_priority_fee(self, fee_gwei: float, eth_usd: np.ndarray) -> "Receipt":
        """The same receipt paying ``fee_gwei`` more on each gas unit it used (the bid to the block producer)."""
        if not fee_gwei:
            return self
        return Receipt(
            self.gas_units, self.gas_usd + units_usd(self.gas_units, fee_gwei, eth_usd), self.profit_usd, self.info
        )


class Role(ABC):
    """A role: its spaces and named observation features, and the four calls above."""

    #: the observation's (name, meaning, unit) in order
    FEATURES: ClassVar[tuple[Feature, ...]] = ()
    #: the action space when ``action_type`` is "continuous" (None: the role acts in discrete actions only)
    CONTINUOUS_ACTION_SPACE: ClassVar[spaces.Box | None] = None
    #: "discrete" or "continuous"; a role that offers both makes it a dataclass field
    action_type: str = "discrete"

    @property
    def features(self) -> tuple[Feature, ...]:
        """The observation's (name, meaning, unit) in order."""
        return self.FEATURES

    @property
    def observation_space(self) -> spaces.Box:
        return feature_box(self.features)

    def feature_index(self, name: str) -> int:
        """The column of the feature ``name`` in this role's observation; a KeyError naming the features otherwise."""
        names = [feature[0] for feature in self.features]
        if name not in names:
            raise KeyError(f"{type(self).__name__} observes no feature {name!r}: its features are {names}")
        return names.index(name)

    @property
    @abstractmethod
    def choices(self) -> int:
        """How many discrete actions there are beside 0, which does nothing."""

    @property
    def action_space(self) -> spaces.Space:
        if self.action_type == "discrete":
            return spaces.Discrete(1 + self.choices)
        if self.CONTINUOUS_ACTION_SPACE is None:
            raise ValueError(f"{type(self).__name__} acts in discrete actions only, not {self.action_type!r} ones")
        return copy.deepcopy(self.CONTINUOUS_ACTION_SPACE)  # its own, so seeding one env's space seeds no other's

    @abstractmethod
    def reset(self, market: Any, elapsed: float = 0.0) -> np.ndarray: ...

    @abstractmethod
    def act(self, market: Any, action: Any) -> Receipt: ...

    @abstractmethod
    def observe(self, market: Any, elapsed: float = 0.0) -> np.ndarray: ...

    @abstractmethod
    def score(self, market: Any, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...
