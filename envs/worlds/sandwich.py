"""The uninformed flow's slippage limits and the sandwich searcher around its swaps (V3WorldParams.slippage_bps,
V3WorldParams.sandwich_usd): what an order carries, what a sandwich's three legs traded, and the bisection that
sizes the front-run so the victim still gets its minimum output. Backend-free: each world runs the legs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from envs.units import BPS
from envs.worlds.block_accounting import arbitrage_profit_usd

#: bisection rounds sizing a front-run: within capital / 2**24 of the largest the victim's limit allows
SEARCH_ROUNDS = 24


@dataclass(frozen=True)
class FlowOrder:
    """An uninformed swap as submitted, (N,) each: sell USDC?, raw amount in, its sqrt price limit (in the
    backend's own form), and its minimum output (raw; 0: none)."""

    sell_usdc: np.ndarray
    raw: np.ndarray
    limit: Any
    min_out: np.ndarray


@dataclass(frozen=True)
class Legs:
    """What a sandwiched swap traded, raw, (N,) each: the searcher's front-run (in, out), the victim's swap,
    and the back-run selling what the front-run bought (zeros where the searcher stayed out)."""

    front_in: np.ndarray
    front_out: np.ndarray
    victim_in: np.ndarray
    victim_out: np.ndarray
    back_in: np.ndarray
    back_out: np.ndarray

    def sent(self) -> np.ndarray:
        """(N,) the searcher's legs that traded: its front-run and its back-run, each where it paid anything."""
        return (self.front_in > 0).astype(float) + (self.back_in > 0)

    def searcher_usd(self, sell_usdc: np.ndarray, reference_price: np.ndarray) -> np.ndarray:
        """The searcher's profit at the reference price (its pool fees paid inside the legs' amounts)."""
        front = arbitrage_profit_usd(sell_usdc, self.front_in, self.front_out, reference_price)
        return front + arbitrage_profit_usd(~sell_usdc, self.back_in, self.back_out, reference_price)


def minimum_out(quote: np.ndarray, slippage_bps: float | None) -> np.ndarray:
    """The output a swap accepts: its quote less ``slippage_bps`` (None: no limit, 0)."""
    if slippage_bps is None:
        return np.zeros_like(quote)
    return np.floor(quote * (1 - slippage_bps / BPS))


def largest_front_run(
    capital: np.ndarray, min_out: np.ndarray, victim_out: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """(N,) the largest front-run, raw and within ``capital``, after which the victim's output
    (``victim_out(front)``, all worlds at once) stays at or above ``min_out``: a bisection that only ever
    keeps an amount it has checked (0 is the victim's own quote, at or above its minimum)."""
    low, high = np.zeros_like(capital), capital
    for _ in range(SEARCH_ROUNDS):
        mid = np.floor((low + high) / 2)
        fits = victim_out(mid) >= min_out
        low, high = np.where(fits, mid, low), np.where(fits, high, mid)
    return low
