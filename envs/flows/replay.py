"""Exact replay of a Uniswap V3 pool's recorded events through the simulated pool.

The other traders' swaps (their exact input amounts and directions) and the other LPs' mints and
burns are applied in block and log order to simulated worlds, and after every swap the simulated
pool is compared with what the chain recorded (``sqrtPriceX96``, ``tick``, ``liquidity``).

The pool's state before the first event comes from a chain at that block when one is given
(:func:`read_pool`), or else is reconstructed from the events (:func:`reconstruct`). Positions are
the pool's own (``owner, tickLower, tickUpper``): all NFTs of the position manager in one range are
one position, as in ``UniswapV3Pool.positions``. A position burned before it is minted in the file
existed at the start: its burned liquidity is taken out of the starting tick map and put in its own
slot, so the burn finds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from envs.contracts.state_reader import V3PoolSnapshot, read_v3_pool
from envs.data.events import EventDataError, EventRecord
from envs.protocols.uniswap_v3 import swap_kernel
from envs.protocols.uniswap_v3.pool import (
    V3PoolState,
    collect,
    default_price_limit,
    modify_position,
    swap,
)
from envs.units import MAX_TICK, MIN_TICK, Q96, TICK_SPACING


def read_pool(chain, address: str) -> V3PoolSnapshot:
    """A V3 pool's full state on ``chain`` (any block the chain stands at), from its address alone."""
    from envs.contracts.contract import Contract

    return read_v3_pool(Contract(chain, address, "UniswapV3Pool"))


def read_pool_at(rpc_url: str, address: str, block: int) -> V3PoolSnapshot:
    """The pool as it stood at the end of ``block``, read through a pyrevm fork of ``rpc_url``."""
    from envs.evm.revm import PyrevmChain

    return read_pool(PyrevmChain(fork_url=rpc_url, fork_block=block), address)


PositionKey = tuple[str, int, int]


def _key(ev: EventRecord) -> PositionKey:
    return str(ev.args["owner"]).lower(), int(ev.args["tickLower"]), int(ev.args["tickUpper"])


def _liquidity_events(events: list[EventRecord]) -> list[EventRecord]:
    return [e for e in events if e.event in ("Mint", "Burn") and int(e.args["amount"]) > 0]


def adopted_positions(events: list[EventRecord]) -> dict[PositionKey, int]:
    """Liquidity each position must have held at the start for its burns to be possible: the deepest
    running deficit of burned over minted liquidity."""
    running: dict[PositionKey, int] = {}
    deficit: dict[PositionKey, int] = {}
    for ev in _liquidity_events(events):
        key = _key(ev)
        running[key] = running.get(key, 0) + (int(ev.args["amount"]) if ev.event == "Mint" else -int(ev.args["amount"]))
        deficit[key] = max(deficit.get(key, 0), -running[key])
    return {k: v for k, v in deficit.items() if v > 0}


def reconstruct(events: list[EventRecord], fee_pips: int) -> tuple[V3PoolSnapshot, list[EventRecord]]:
    """A starting pool from the events alone, and the events to replay from it (those after the first swap).

    The pool starts as the first swap left it. Its background liquidity (everyone's but the file's
    positions) at each tick a swap ended in is the swap's recorded ``liquidity`` less the file's
    positions in range then; between two such ticks the step is placed at the initializable tick
    midway, since the events do not say where in between it lies: a swap crossing that gap is where a
    reconstructed replay can differ from the chain."""
    spacing = TICK_SPACING[fee_pips]
    swaps = [i for i, e in enumerate(events) if e.event == "Swap"]
    if not swaps:
        raise EventDataError("no Swap in the events: a pool cannot be reconstructed without one")
    first = swaps[0]
    window = events[first + 1 :]
    held = adopted_positions(window)
    seen: dict[int, list[int]] = {}
    for ev in events[first:]:
        if ev.event in ("Mint", "Burn") and int(ev.args["amount"]) > 0:
            key = _key(ev)
            held[key] = held.get(key, 0) + (int(ev.args["amount"]) if ev.event == "Mint" else -int(ev.args["amount"]))
        elif ev.event == "Swap":
            tick = int(ev.args["tick"])
            mine = sum(v for (_, lo, hi), v in held.items() if lo <= tick < hi)
            seen.setdefault(tick, []).append(int(ev.args["liquidity"]) - mine)
    levels = sorted((t, int(np.median(v))) for t, v in seen.items())
    lowest, highest = (
        MIN_TICK // spacing * spacing + (spacing if MIN_TICK % spacing else 0),
        MAX_TICK // spacing * spacing,
    )
    net: dict[int, int] = {lowest: levels[0][1], highest: -levels[-1][1]}
    for (ta, la), (tb, lb) in zip(levels, levels[1:]):
        if la == lb:
            continue
        step = min(max(((ta + tb) // 2) // spacing * spacing, (ta // spacing + 1) * spacing), tb // spacing * spacing)
        net[step] = net.get(step, 0) + lb - la
    gross = {t: abs(n) for t, n in net.items()}
    for (_, lo, hi), amount in adopted_positions(window).items():  # positions open at the start are in the pool too
        for t, sign in ((lo, 1), (hi, -1)):
            net[t], gross[t] = net.get(t, 0) + sign * amount, gross.get(t, 0) + amount
    ticks = {t: (net[t], gross[t], 0, 0) for t in net if gross[t] > 0}
    start = events[first].args
    return V3PoolSnapshot(
        fee_pips, int(start["sqrtPriceX96"]), int(start["tick"]), int(start["liquidity"]), 0, 0, ticks, "", ""
    ), window


@dataclass
class ReplayReport:
    """What a replay reproduced: counts, and the largest differences from the recorded values."""

    swaps: int = 0
    mints: int = 0
    burns: int = 0
    max_rel_err_sqrt_price: float = 0.0
    max_abs_err_tick: int = 0
    max_rel_err_liquidity: float = 0.0
    worst_swap: int | None = None  # index (in the events) of the swap with the largest price error
    collects_checked: int = 0  # collects of positions minted within the events (their whole fee history is known)
    max_rel_err_fees: float = 0.0  # of the fees a collect paid beyond the principal its burns freed
    max_abs_err_fees: float = 0.0  # raw token units
    start: str = "chain"  # chain or reconstructed
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _relative(sim: float, recorded: float) -> float:
    return abs(sim - recorded) / max(abs(recorded), 1.0)


class PoolReplay:
    """Replays events into ``n`` identical simulated worlds (``xp`` numpy or torch); ``on_block`` is called
    between blocks with the block number, where an agent acts."""

    def __init__(
        self,
        events: list[EventRecord],
        start: V3PoolSnapshot,
        xp=np,
        n: int = 1,
        device=None,
        first_slot: int = 0,
        extra_ticks: int = 0,
        compiled: bool = True,
    ):
        """Position slots below ``first_slot`` are left free (for agents); the events' positions follow. Numpy
        worlds swap through the compiled kernel (the array code's results, bit for bit, ~10x sooner) unless
        ``compiled`` is False."""
        from envs.contracts.state_reader import v3_pool_state

        self.events, self.xp, self.n = events, xp, n
        adopted = adopted_positions(events)
        self.keys = list(dict.fromkeys([*adopted, *(_key(e) for e in _liquidity_events(events))]))
        self.slot = {k: first_slot + i for i, k in enumerate(self.keys)}
        ticks = dict(start.ticks)
        for (_, lo, hi), amount in adopted.items():  # take the adopted liquidity out of the tick map ...
            for t, sign in ((lo, 1), (hi, -1)):
                net, gross, out0, out1 = ticks.get(t, (0, 0, 0, 0))
                if gross < amount:
                    raise EventDataError(
                        f"a position burns {amount} liquidity at tick {t}, but the starting pool "
                        f"holds only {gross} there: the events do not follow this starting state"
                    )
                ticks[t] = (net - sign * amount, gross - amount, out0, out1)
        ticks = {t: v for t, v in ticks.items() if v[1] > 0}
        self.params, self.state = v3_pool_state(
            replace(start, ticks=ticks),
            xp,
            n,
            max_ticks=len(ticks) + 2 * len(self.keys) + 4 + extra_ticks,
            max_positions=max(1, first_slot + len(self.keys)),
            device=device,
        )
        self._swap = swap_kernel.swap if compiled and swap_kernel.applies(self.state) else swap
        for key, amount in adopted.items():  # ... and into its own slot
            self._modify(key, float(amount))
        first_seen: dict[PositionKey, str] = {}
        for e in events:
            if e.event in ("Mint", "Burn", "Collect"):
                first_seen.setdefault(_key(e), e.event)
        #: positions whose whole life is in the events: the first thing that happens to them is a mint
        self.born_here = {k for k, first in first_seen.items() if first == "Mint" and k not in adopted}
        self.freed = {k: [0, 0] for k in self.keys}  # principal burned and not yet collected, per position
        self.report = ReplayReport()

    def _device(self):
        return getattr(self.state.sqrt_price, "device", None)

    def _slots(self, key: PositionKey):
        return self.xp.full((self.n,), self.slot[key], dtype=self.xp.int64, device=self._device())

    def _modify(self, key: PositionKey, delta: float) -> None:
        """UniswapV3Pool.mint (delta > 0), burn (delta < 0) or a poke (burn of 0) of ``key`` in every world."""
        xp, n, device = self.xp, self.n, self._device()
        _, lo, hi = key
        modify_position(
            self.state,
            self.params,
            self._slots(key),
            xp.full((n,), lo, dtype=xp.int64, device=device),
            xp.full((n,), hi, dtype=xp.int64, device=device),
            xp.full((n,), delta, dtype=xp.float64, device=device),
            xp.ones((n,), dtype=xp.bool, device=device),
        )

    def _collect(self, index: int, ev: EventRecord) -> None:
        """Pay the position what it is owed; where its whole life is in the events, compare the fees paid
        (beyond the principal its burns freed) with the chain's Collect."""
        key = _key(ev)
        if key not in self.slot:
            return
        xp = self.xp
        paid = collect(self.state, self._slots(key), xp.ones((self.n,), dtype=xp.bool, device=self._device()))
        freed, self.freed[key] = self.freed[key], [0, 0]
        if key not in self.born_here:
            return  # it earned fees before the events began: they cannot be checked
        r = self.report
        r.collects_checked += 1
        for i, amount in enumerate((int(ev.args["amount0"]), int(ev.args["amount1"]))):
            fee_chain, fee_sim = amount - freed[i], float(paid[i][0]) - freed[i]
            r.max_abs_err_fees = max(r.max_abs_err_fees, abs(fee_sim - fee_chain))
            r.max_rel_err_fees = max(r.max_rel_err_fees, abs(fee_sim - fee_chain) / max(abs(fee_chain), 1.0))

    def apply(self, index: int, ev: EventRecord) -> None:
        """Apply one recorded event to every world; a swap is compared with its record."""
        xp, state = self.xp, self.state
        if ev.event == "Swap":
            a0, a1 = int(ev.args["amount0"]), int(ev.args["amount1"])
            zero_for_one = a0 > 0
            amount = float(a0 if zero_for_one else a1)
            device = state.sqrt_price.device if hasattr(state.sqrt_price, "device") else None
            zfo = xp.full((self.n,), zero_for_one, dtype=xp.bool, device=device)
            self._swap(
                state,
                self.params,
                zfo,
                xp.full((self.n,), amount, dtype=xp.float64, device=device),
                default_price_limit(zfo),
                xp.ones((self.n,), dtype=xp.bool, device=device),
            )
            self._compare(index, ev)
        elif ev.event == "Mint" and int(ev.args["amount"]) > 0:
            self._modify(_key(ev), float(ev.args["amount"]))
            self.report.mints += 1
        elif ev.event == "Burn" and _key(ev) in self.slot:
            self._modify(_key(ev), -float(ev.args["amount"]))  # a burn of 0 settles fees (the NPM's poke)
            freed = self.freed[_key(ev)]
            freed[0], freed[1] = freed[0] + int(ev.args["amount0"]), freed[1] + int(ev.args["amount1"])
            self.report.burns += int(ev.args["amount"]) > 0
        elif ev.event == "Collect":
            self._collect(index, ev)

    def _compare(self, index: int, ev: EventRecord) -> None:
        r = self.report
        r.swaps += 1
        sqrt_price = float(self.state.sqrt_price[0])
        err = _relative(sqrt_price, int(ev.args["sqrtPriceX96"]) / Q96)
        if err > r.max_rel_err_sqrt_price:
            r.max_rel_err_sqrt_price, r.worst_swap = err, index
        r.max_abs_err_tick = max(r.max_abs_err_tick, abs(int(self.state.tick[0]) - int(ev.args["tick"])))
        r.max_rel_err_liquidity = max(
            r.max_rel_err_liquidity, _relative(float(self.state.liquidity[0]), int(ev.args["liquidity"]))
        )

    def run(self, first: int = 0, on_block: Callable[[int, V3PoolState], None] | None = None) -> ReplayReport:
        block = None
        for i in range(first, len(self.events)):
            ev = self.events[i]
            if on_block is not None and block is not None and ev.block_number != block:
                on_block(block, self.state)
            block = ev.block_number
            self.apply(i, ev)
        return self.report


def check_replay(events: list[EventRecord], fee_pips: int, start: V3PoolSnapshot | None = None) -> ReplayReport:
    """Replay ``events`` with no agent: from ``start`` (read from a chain) if given, else reconstructed."""
    events = sorted(events, key=lambda e: e.order)
    if start is None:
        snapshot, window = reconstruct(events, fee_pips)
        report = PoolReplay(window, snapshot).run()
        report.start = "reconstructed"
        report.notes.append("reconstructed start: liquidity steps between the ticks swaps ended in are placed midway")
    else:
        report = PoolReplay(events, start).run()
    if not math.isfinite(report.max_rel_err_sqrt_price):
        report.notes.append("the simulated price left the recorded path")
    return report
