"""Worlds that replay a pool's real recorded events around the agents (``flow=replay``).

Every step the clock moves ``dt`` seconds and the recorded swaps (exact input amounts and directions),
mints and burns of everyone else that fall in it are applied in block and log order
(``envs.flows.replay.PoolReplay``); the agents act between steps, on the pool the events left, their
own liquidity included. The recorded flow already holds the arbitrage, so no scripted arbitrageur
trades; the reference price is the pool's last recorded price (what the market traded at), against
which LVR is counted. The pool starts as the events reconstruct it (``reconstruct``). All N worlds
replay the same events: a batch is N strategies on one real history. With ``replay_window`` each reset
starts the batch at a random time of that share of the recorded span, the events before it applied
with no agent in the pool, so that training, validation and test can take different days of one file.
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
    def __init__(self, n: int, driver: PriceDriver, params: V3WorldParams, backend, horizon: int | None = None):
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
        self._starts = self._episode_starts(horizon)

    def _episode_starts(self, horizon: int | None) -> tuple[float, float] | None:
        """The earliest and latest start time of an episode in ``replay_window`` (None: the first event)."""
        window = self.params.replay_window
        if window is None or not self._times:
            return None
        if horizon is None:
            raise ValueError("a replay_window needs the episode's horizon to fit episodes inside it")
        first = self._times[0]
        lo, hi = first + window[0] * self.span, first + window[1] * self.span - horizon * self.dt
        if hi < lo - 1.0:  # a second's slack for windows cut to whole hours in floating point
            raise ValueError(
                f"env.flow_file {self.params.flow_file}: the replay window {list(window)} holds "
                f"{window[1] * self.span / 3600 - window[0] * self.span / 3600:.1f} h of events, an episode of "
                f"{horizon} steps needs {horizon * self.dt / 3600:.1f} h: shorten env.horizon or widen the window"
            )
        return lo, max(lo, hi)

    def start(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """The pool as the events leave it at the episode's start (the first event, or a random time of
        ``replay_window``), the LP agents funded with ``agent_usd`` (given exactly when the world has LP agents)
        at its last recorded price."""
        self.rng = rng
        self.path.reset(rng, self.n)  # unused here, reset so a driver's own checks still run
        self.replay = PoolReplay(
            self._events,
            self._start,
            self.b.xp,
            self.n,
            device=self.b.device,
            first_slot=self.slots,
            extra_ticks=2 * self.slots,
        )
        self.state, self.pool_params = self.replay.state, self.replay.params
        self._next = 0
        self.path.now = np.full(self.n, self._first_price)
        start = float(self._times[0] if self._times else 0)
        if self._starts is not None:
            start = float(rng.uniform(*self._starts))
        self._apply_until(start)  # the events before the start, with no agent in the pool yet
        self.fund_agents(agent_usd)
        self.clock = np.full(self.n, start)

    def move_path(self) -> None:
        """Nothing: the recorded swaps move the reference (``noise``)."""

    def arbitrage(self, mask: np.ndarray | None = None) -> None:
        """Nothing: the recorded flow holds the arbitrage that happened."""

    def noise(self) -> None:
        """Apply the recorded events that fall before the clock; the reference follows the recorded swaps."""
        self._apply_until(float(self.clock[0]))

    def _apply_until(self, until: float) -> None:
        while self._next < len(self._events) and self._times[self._next] < until:
            ev = self._events[self._next]
            self.replay.apply(self._next, ev)
            if ev.event == "Swap":
                self.path.now = np.full(self.n, _recorded_usd(ev))
            self._next += 1

    def agent_arbitrage(self, fraction: np.ndarray):
        raise ValueError(
            "flow=replay replays the arbitrage that happened: the arbitrage env needs flow=calibrated or toy"
        )
