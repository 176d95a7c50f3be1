"""A role that steers one of the world's scripted traders by the share of its bound it acts on this block
(the sandwich searcher's largest front-run, the JIT LP's capital): ``Discrete(1 + len(shares))``, 0 stays
out and ``i`` takes ``shares[i-1]``. The searcher and the JIT provider differ in what they read and what they
are rewarded by.

Their transactions go around the flow's swaps, after the role has acted, so the receipt ``act`` returns costs
nothing yet; once the block has run, the env reads what the world counted it sent for them (the searcher's
legs, the JIT LP's mint-and-burn round trips) and prices it (``sent``: each transaction's measured gas,
``GAS_ACTIONS`` of ``envs/assets/gas_costs.json``, at the base gas price; the env adds the agent's priority
fee as it does for every agent). Their rewards are net of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from envs.assets.gas import action_units
from envs.roles.actions import choice
from envs.roles.role import Receipt
from envs.roles.volatility import WatchesReference
from envs.worlds.market import UniswapV3Market

DEFAULT_SHARES = (0.25, 0.5, 0.75, 1.0)


@dataclass
class ScriptedShare(WatchesReference):
    shares: tuple[float, ...] = DEFAULT_SHARES
    volatility_halflife_steps: float = 24.0
    gas_price_gwei: float = 10.0  # the base gas price its transactions pay
    #: the measured actions (envs/assets/gas_costs.json) one of its transactions makes
    GAS_ACTIONS: ClassVar[tuple[str, ...]] = ()
    #: the world's count of the transactions it sent for the role in the block (``UniswapV3Market``)
    SENT: ClassVar[str] = ""
    #: what an action does, for the error message of a bad one
    ACTION_MEANING: ClassVar[str] = ""

    def __post_init__(self):
        if not self.shares or min(self.shares) <= 0 or max(self.shares) > 1:
            raise ValueError(f"shares must lie in (0, 1], got {self.shares}")

    @property
    def choices(self) -> int:
        return len(self.shares)

    def decode(self, action, n: int) -> np.ndarray:
        """Actions -> the share of the bound to act on this block, per world."""
        a = choice(
            action,
            n,
            self.choices,
            f"{type(self).__name__} actions must be integers in [0, {len(self.shares)}]: 0 stays out, "
            f"i {self.ACTION_MEANING} shares[i-1] of {self.shares}",
        )
        return np.asarray((0.0,) + tuple(self.shares))[a]

    def receipt(self, share: np.ndarray) -> Receipt:
        """What setting the share costs: nothing yet (its transactions run with the flow, their gas counted
        after the block: ``sent``), the share noted."""
        return Receipt(np.zeros(len(share)), np.zeros(len(share)), None, {"share": share})

    def sent(self, market: UniswapV3Market, receipt: Receipt) -> Receipt:
        """``receipt`` with the gas of the transactions the world sent for this role in the block (its ``SENT``
        count, each ``GAS_ACTIONS``) at the base gas price, in USD at the reference price."""
        units = getattr(market, self.SENT) * action_units(*self.GAS_ACTIONS)
        return Receipt.priced(units, self.gas_price_gwei, market.reference_price(), receipt.profit_usd, receipt.info)
