"""The block's pending uninformed swaps: drawn when the block before it closes (at reset for the first), seen by
the agents that trade around them (the sandwich searcher, the JIT LP) before they act, and executed as drawn, so
what an agent saw is what the block runs.

Each swap carries what a transaction in a public mempool shows: its direction, its size (the raw input, and its
USD worth at the reference price it was drawn at), its slippage limit (basis points: the minimum output is its
quote on the pool when it executes, less this, as ``V3WorldParams.slippage_bps`` has it; NaN: none), the gas it
uses and the priority fee it bids. The gas is the measured ``v3_swap`` of ``envs/assets/gas_costs.json`` (an
exact-input swap through the SwapRouter); the priority fee is ``V3WorldParams.flow_priority_fee_gwei``, one for
every swap (not drawn, so the flow's draws stay as they were). Arrays are (N, K): N worlds, K the step's swaps
(a world with fewer holds zeros: raw 0 is no swap).

Once the block has run them, the mempool says what they paid the block producer (``gas_usd``: each swap's gas
at the base fee plus its priority fee), so the block's accounts read the flow's side off what it sent."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envs.assets.gas import GWEI, gas_units
from envs.units import USDC_UNIT, WETH_UNIT

#: the observation's pending-swap features, (name, meaning, unit), the searcher's and the JIT provider's alike
PENDING_FEATURES = (
    ("pending_swaps", "the uninformed swaps pending for the next block", "swaps"),
    ("pending_usd", "their total size at the reference price, in USD / 100,000", "100k USD"),
    ("largest_pending_usd", "the largest pending swap's size at the reference price, in USD / 100,000", "100k USD"),
    ("largest_priority_fee", "the priority fee the largest pending swap bids", "gwei"),
)
#: the USD scale of the size features
PENDING_USD_SCALE = 100_000.0


@dataclass
class Mempool:
    """The pending swaps of one block in N worlds, (N, K) each; ``executed`` marks those the block has run."""

    sell_usdc: np.ndarray  # bool: USDC in (else WETH in)
    raw: np.ndarray  # raw input amount, 0: no swap
    usd: np.ndarray  # the input's worth at the reference price when drawn
    slippage_bps: np.ndarray  # the swap's slippage limit, basis points (NaN: none)
    priority_fee_gwei: np.ndarray  # the priority fee it bids
    gas: np.ndarray  # gas units it uses
    executed: np.ndarray = field(init=False)
    #: whether the block has begun running these swaps (its take and fees counted from then)
    started: bool = field(default=False, init=False)

    def __post_init__(self):
        self.executed = np.zeros(self.raw.shape, bool)

    @classmethod
    def of(
        cls,
        orders: list[tuple[np.ndarray, np.ndarray]],
        n: int,
        reference_price: np.ndarray,
        slippage_bps: float | None,
        priority_fee_gwei: float,
    ) -> "Mempool":
        """The swaps a flow drew, [(sell USDC?, raw amount in)] each (N,), as (N, K) arrays."""
        sell_usdc = np.stack([np.asarray(s, bool) for s, _ in orders], axis=1) if orders else np.zeros((n, 0), bool)
        raw = np.stack([np.asarray(r, float) for _, r in orders], axis=1) if orders else np.zeros((n, 0))
        usd = np.where(sell_usdc, raw / USDC_UNIT, raw / WETH_UNIT * np.asarray(reference_price)[:, None])
        live = raw > 0
        return cls(
            sell_usdc,
            raw,
            usd,
            np.where(live, np.nan if slippage_bps is None else slippage_bps, np.nan),
            np.where(live, priority_fee_gwei, 0.0),
            np.where(live, float(gas_units()["v3_swap"]), 0.0),
        )

    @classmethod
    def empty(cls, n: int) -> "Mempool":
        """No pending swap (a world replaying recorded events applies them itself)."""
        return cls.of([], n, np.ones(n), None, 0.0)

    @property
    def k(self) -> int:
        return self.raw.shape[1]

    def column(self, k: int, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Swap ``k`` (sell USDC?, raw) in the worlds of ``where`` it has not run in yet (raw 0 elsewhere), now
        marked as run there."""
        raw = np.where(where & ~self.executed[:, k], self.raw[:, k], 0.0)
        self.executed[:, k] |= where
        return np.ascontiguousarray(self.sell_usdc[:, k]), raw

    def gas_usd(self, base_fee_gwei: float, eth_usd: np.ndarray) -> np.ndarray:
        """(N,) what the swaps the block has run paid the block producer, in USD at ``eth_usd`` (N,): each its gas
        at ``base_fee_gwei`` plus its own priority fee."""
        gwei = np.where(self.executed & (self.raw > 0), self.gas * (base_fee_gwei + self.priority_fee_gwei), 0.0)
        return np.sum(gwei, axis=1) * GWEI * np.asarray(eth_usd)

    def features(self) -> np.ndarray:
        """(N, 4) ``PENDING_FEATURES``: the count, total and largest size, and the largest's priority fee."""
        live = self.raw > 0
        n = self.raw.shape[0]
        if not self.k:
            return np.zeros((n, len(PENDING_FEATURES)))
        usd = np.where(live, self.usd, 0.0)
        largest = np.argmax(usd, axis=1)
        rows = np.arange(n)
        return np.stack(
            [
                live.sum(axis=1).astype(float),
                usd.sum(axis=1) / PENDING_USD_SCALE,
                usd[rows, largest] / PENDING_USD_SCALE,
                np.where(live[rows, largest], self.priority_fee_gwei[rows, largest], 0.0),
            ],
            axis=1,
        )


def pending_features(pending: Mempool | None, n: int) -> np.ndarray:
    """(N, 4) the pending swaps' features, zeros where none are drawn (before an episode's first block is, and
    after its last)."""
    return pending.features() if pending is not None else np.zeros((n, len(PENDING_FEATURES)))
