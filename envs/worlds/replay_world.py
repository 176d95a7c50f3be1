"""Worlds that replay a pool's real recorded events around the agents (``flow=replay``).

Every step the clock moves ``dt`` seconds and the recorded swaps (exact input amounts and directions),
mints and burns of everyone else that fall in it are applied in block and log order
(``envs.flows.replay.PoolReplay``); the agents act between steps, on the pool the events left, their
own liquidity included. The recorded flow already holds the arbitrage, so no scripted arbitrageur
trades; the reference price is the pool's last recorded price (what the market traded at), against
which LVR is counted. The pool starts as the events reconstruct it (``reconstruct``). All N worlds
replay the same events: a batch is N strategies on one real history.
"""

from __future__ import annotations

import numpy as np

from envs.data.events import EventDataError
from envs.drivers.base import PriceDriver
from envs.flows.replay import PoolReplay, reconstruct
from envs.units import Q96, USDC_UNIT, WETH_UNIT
from envs.worlds.sim import UniswapV3World, V3WorldParams


def _recorded_usd(ev) -> float:
    """ETH in USD at a swap's recorded price (USDC token0)."""
    sqrt_price = int(ev.args["sqrtPriceX96"]) / Q96
    return WETH_UNIT / USDC_UNIT / (sqrt_price * sqrt_price)


class ReplayWorld(UniswapV3World):
    def __init__(self, n: int, driver: PriceDriver, params: V3WorldParams, backend):
        from envs.data.readers import load_events

        if params.scripted_lps:
            raise ValueError(
                "env.flow=replay replays the real LPs' mints and burns: leave env.recentering_lps and env.jit_usd out"
            )
        super().__init__(n, driver, params, backend)
        if params.flow_file is None:
            raise ValueError("flow=replay needs env.flow_file: the events to replay")
        records, metadata = load_events(params.flow_file)
        if "fee_pips" in metadata and int(metadata["fee_pips"]) != params.fee_pips:
            raise EventDataError(
                f"{params.flow_file} holds a {metadata['fee_pips']} pool's events, but env.fee_pips is "
                f"{params.fee_pips}: set env.fee_pips={metadata['fee_pips']}"
            )
        if any(r.timestamp is None for r in records):
            raise EventDataError(
                f"{params.flow_file} has events without a timestamp: a replay steps by time; fetch "
                f"them without --no-timestamps"
            )
        events = sorted(records, key=lambda r: r.order)
        self._start, self._events = reconstruct(events, params.fee_pips)
        self._first_price = _recorded_usd(events[next(i for i, e in enumerate(events) if e.event == "Swap")])
        self._times = [e.timestamp or 0 for e in self._events]  # every event has one (checked above)
        self.span = (self._times[-1] - self._times[0]) if self._times else 0

    def reset(self, rng: np.random.Generator, agent_usd: float = 100_000.0) -> None:
        """The pool as the events start it, the agents funded at its recorded price, the clock at the first event."""
        self.rng = rng
        self.driver.reset(rng, self.n)  # unused here, reset so a driver's own checks still run
        self.replay = PoolReplay(
            self._events,
            self._start,
            self.b.xp,
            self.n,
            device=self.b.device,
            first_slot=self.lps,
            extra_ticks=2 * self.lps,
        )
        self.state, self.pool_params = self.replay.state, self.replay.params
        self._next = 0
        self._reference = np.full(self.n, self._first_price)
        self.fund_agents(agent_usd)
        self.clock = np.full(self.n, float(self._times[0] if self._times else 0))

    def move_reference(self) -> None:
        self.clock = self.clock + self.dt

    def arbitrage(self, mask: np.ndarray | None = None) -> None:
        """Nothing: the recorded flow holds the arbitrage that happened."""

    def noise(self) -> None:
        """Apply the recorded events that fall before the clock; the reference follows the recorded swaps."""
        until = float(self.clock[0])
        while self._next < len(self._events) and self._times[self._next] < until:
            ev = self._events[self._next]
            self.replay.apply(self._next, ev)
            if ev.event == "Swap":
                self._reference = np.full(self.n, _recorded_usd(ev))
            self._next += 1

    def agent_arbitrage(self, fraction: np.ndarray):
        raise ValueError(
            "flow=replay replays the arbitrage that happened: the arbitrage env needs flow=calibrated or toy"
        )
