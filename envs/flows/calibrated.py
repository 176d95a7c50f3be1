"""A flow of uninformed swaps calibrated to a pool's real swaps.

What is fitted, from a pool's swaps and a reference price (``fit_flow``):

- informed or not: a swap that moves the pool toward the reference from outside the fee's no-trade
  band is informed (arbitrage, which the worlds generate themselves at block resolution); the rest
  is the uninformed flow this model draws;
- intensity: uninformed USD volume per day per unit of the pool's active liquidity (raw units): swaps
  arrive as in the fitted pool and their sizes scale with the pool's depth, so a deeper pool draws
  proportionally more flow (volume follows liquidity on chain) while each swap moves the price as a
  real one did;
- the hour of day (UTC): each hour's share of that volume;
- trade size in USD: the body's empirical quantiles (log scale, 101 knots) up to the 95th percentile,
  and a Pareto tail above it (Hill estimator), cut at the largest swap seen;
- direction: the probability that a swap goes the way the one before it went;
- impact: how far one swap may move the price (the 99.9th percentile of the real swaps' moves), the
  limit a trader's slippage setting puts on it.

``CalibratedFlow.orders`` draws a step's swaps for N worlds from these, in the same order on every
backend. The parameters are a small JSON file (``python -m envs.data fit-flow``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from envs.assets import ASSETS_DIR
from envs.units import DAY, FEE_DENOMINATOR, USDC_UNIT, WETH_UNIT

DEFAULT_FLOW_FILE = ASSETS_DIR / "flow_usdc_weth_3000.json"


@dataclass(frozen=True)
class FlowParams:
    """A fitted flow; amounts in USD, intensity per unit of active liquidity (raw, USDC/WETH pool)."""

    volume_per_liquidity: float  # uninformed USD volume per day per unit of active liquidity
    reference_liquidity: float  # the fitted pool's median active liquidity: sizes are in units of its depth
    hourly_share: tuple[float, ...]  # 24 shares of the daily uninformed volume, by UTC hour
    size_body_log_quantiles: tuple[float, ...]  # log USD size at probabilities 0, 0.01, ..., 1 of the body
    size_tail_usd: float  # the tail's threshold
    size_tail_share: float  # share of swaps above it
    size_tail_alpha: float  # Pareto exponent of the tail
    size_max_usd: float  # the tail is cut here: the largest swap seen (a Pareto draw is otherwise unbounded)
    persistence: float  # P(a swap goes the way the previous one went)
    impact_limit: float  # a swap stops once it has moved the price this much (99.9% of real swaps moved it less)
    informed_share: float  # share of the volume that was informed (not drawn here)
    fee_pips: int = 3000
    source: str = ""
    fit: dict = field(default_factory=dict)  # what it was fitted on and how well it held out

    def __post_init__(self):
        if len(self.hourly_share) != 24 or abs(sum(self.hourly_share) - 1) > 1e-6:
            raise ValueError("hourly_share must be 24 shares that add up to 1")
        knots = self.size_body_log_quantiles
        if len(knots) < 2 or any(b < a for a, b in zip(knots, knots[1:])):
            raise ValueError("size_body_log_quantiles must be at least 2 non-decreasing values")
        if not self.size_max_usd >= self.size_tail_usd:
            raise ValueError(
                f"size_max_usd={self.size_max_usd!r} must be at least size_tail_usd={self.size_tail_usd!r}"
            )
        for name in ("volume_per_liquidity", "reference_liquidity", "size_tail_usd", "size_tail_alpha"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"flow parameter {name}={getattr(self, name)!r} must be a finite number > 0")
        for name in ("size_tail_share", "persistence", "informed_share", "impact_limit"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"flow parameter {name}={getattr(self, name)!r} must lie in [0, 1]")

    @cached_property
    def mean_size_usd(self) -> float:
        """E[size] of the body-and-tail mixture, by one fixed draw (computed once: it is read every step)."""
        return float(sample_sizes(self, np.random.default_rng(0), 200_000).mean())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_FLOW_FILE) -> "FlowParams":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"flow parameters {path} do not exist: fit them with `python -m envs.data fit-flow`"
            )
        raw = json.loads(path.read_text())
        try:
            return cls(
                **{
                    **raw,
                    "hourly_share": tuple(raw["hourly_share"]),
                    "size_body_log_quantiles": tuple(raw["size_body_log_quantiles"]),
                }
            )
        except (TypeError, KeyError) as err:
            raise ValueError(f"{path} is not a flow parameter file ({err})") from None


def sample_sizes(params: FlowParams, rng: np.random.Generator, shape) -> np.ndarray:
    """USD sizes: with the tail's share, a Pareto between ``size_tail_usd`` and ``size_max_usd`` (inverse CDF of
    the truncated law); else the body's quantile function (log-linear between its knots) at a uniform draw."""
    tail = rng.random(shape) < params.size_tail_share
    low, alpha = params.size_tail_usd, params.size_tail_alpha
    kept = 1 - (low / params.size_max_usd) ** alpha  # the Pareto's mass below the cut
    pareto = low * (1 - rng.random(shape) * kept) ** (-1 / alpha)
    knots = np.asarray(params.size_body_log_quantiles)
    body = np.exp(np.interp(rng.random(shape), np.linspace(0, 1, len(knots)), knots))
    return np.where(tail, pareto, body)


@dataclass
class CalibratedFlow:
    """Draws each step's uninformed swaps for N worlds. ``max_orders`` caps the swaps a world gets in one
    step (a Poisson count past it is cut, and counted in ``capped``)."""

    params: FlowParams
    max_orders: int = 1024
    capped: int = 0
    _last: np.ndarray | None = field(default=None, init=False, repr=False)  # each world's last swap direction

    def orders(
        self,
        rng: np.random.Generator,
        n: int,
        active_liquidity: np.ndarray,
        hour,
        dt: float,
        reference_price: np.ndarray,
        last_sell_usdc: np.ndarray | None = None,
        merge: bool = True,
    ):
        """[(sell USDC?, USD size)] for one step of ``dt`` seconds at UTC ``hour`` (one, or one per world).

        Swaps arrive as they did in the fitted pool, and their sizes scale with the pool's depth (its active
        liquidity over the fitted pool's): a shallower pool sees the same kind of traders with smaller
        orders, so each swap moves its price as much as it moved the real one, and a world's expected
        volume is volume_per_liquidity x its active liquidity x the hour's share. A size of 0 means no swap.
        With ``merge``, a world's consecutive swaps in one direction come as one swap of their sum (the same
        trade through the pool, in far fewer vectorized calls)."""
        p = self.params
        share = np.asarray(p.hourly_share)[np.asarray(hour, dtype=np.int64) % 24]
        depth = np.maximum(np.asarray(active_liquidity, dtype=float), 0.0) / p.reference_liquidity
        volume = p.volume_per_liquidity * p.reference_liquidity * share * 24 * dt / DAY
        counts = rng.poisson(np.where(depth > 0, volume, 0.0) / p.mean_size_usd * np.ones(n))
        self.capped += int(np.sum(counts > self.max_orders))
        counts = np.minimum(counts, self.max_orders)
        k = int(counts.max()) if n else 0
        sizes = sample_sizes(p, rng, (k, n)) * depth[None, :]
        flips = rng.random((k, n)) >= p.persistence
        first = rng.random(n) < 0.5 if last_sell_usdc is None else np.asarray(last_sell_usdc, dtype=bool)
        live = np.arange(k)[:, None] < counts[None, :]
        # each swap goes the way of the one before it, unless it flips: direction = first XOR (flips so far)
        sell_usdc = first[None, :] ^ (np.cumsum(flips & live, axis=0) % 2 == 1)
        sizes = np.where(live, sizes, 0.0)
        if not merge or k == 0:
            return [(sell_usdc[j], sizes[j]) for j in range(k)]
        new_run = live & np.concatenate([np.ones((1, n), bool), sell_usdc[1:] != sell_usdc[:-1]])
        new_run[0] = live[0]
        run = np.cumsum(new_run, axis=0) - 1
        runs = int(run.max()) + 1 if k and live.any() else 0
        merged, direction = np.zeros((runs, n)), np.zeros((runs, n), bool)
        rows, cols = run[live], np.nonzero(live)[1]
        np.add.at(merged, (rows, cols), sizes[live])
        direction[rows, cols] = sell_usdc[live]
        return [(direction[r], merged[r]) for r in range(runs)]

    def raw_orders(
        self,
        rng: np.random.Generator,
        n: int,
        active_liquidity: np.ndarray,
        hour,
        dt: float,
        reference_price: np.ndarray,
        usdc_unit: float,
        weth_unit: float,
    ):
        """:meth:`orders` in raw input amounts of a USDC/WETH pool: USDC in when selling USDC, else WETH
        worth the size at the reference price (whole raw units; 0 means no swap)."""
        drawn = self.orders(rng, n, active_liquidity, hour, dt, reference_price, self._last)
        out = []
        for sell_usdc, usd in drawn:
            out.append((sell_usdc, np.floor(np.where(sell_usdc, usd * usdc_unit, usd / reference_price * weth_unit))))
            self._last = np.where(usd > 0, sell_usdc, self._last if self._last is not None else sell_usdc)
        return out

    def reset(self) -> None:
        """Forget the last direction (a new episode)."""
        self._last = None


# --- fitting -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapSample:
    """Swaps as arrays: time (unix s), USD size, sell USDC?, the pool's price after (USD per ETH), active liquidity."""

    time: np.ndarray
    size_usd: np.ndarray
    sell_usdc: np.ndarray
    price_after: np.ndarray
    liquidity: np.ndarray

    def select(self, mask: np.ndarray) -> "SwapSample":
        return SwapSample(
            *(getattr(self, f)[mask] for f in ("time", "size_usd", "sell_usdc", "price_after", "liquidity"))
        )


def swap_sample(records) -> SwapSample:
    """Swaps of a USDC/WETH pool (USDC token0) from event records, in order."""
    swaps = [r for r in records if r.event == "Swap"]
    a0 = np.array([float(r.args["amount0"]) for r in swaps])
    tick = np.array([float(r.args["tick"]) for r in swaps])
    return SwapSample(
        time=np.array([float(r.timestamp) for r in swaps]),
        size_usd=np.abs(a0) / USDC_UNIT,
        sell_usdc=a0 > 0,
        price_after=WETH_UNIT / USDC_UNIT / 1.0001**tick,
        liquidity=np.array([float(r.args["liquidity"]) for r in swaps]),
    )


def informed(sample: SwapSample, reference: np.ndarray, fee_pips: int) -> np.ndarray:
    """Swaps that moved the pool toward ``reference`` (at each swap's time) from outside the fee band."""
    before = np.concatenate([[sample.price_after[0]], sample.price_after[:-1]])
    band = fee_pips / FEE_DENOMINATOR
    cheap = before < reference * (1 - band)  # ETH cheap in the pool: an arbitrageur buys it with USDC
    dear = before > reference * (1 + band)
    return (cheap & sample.sell_usdc) | (dear & ~sample.sell_usdc)


def _size_fit(sizes: np.ndarray) -> dict:
    """The body's log quantiles up to the 95th percentile, and a Pareto tail above it."""
    tail = float(np.quantile(sizes, 0.95))
    above = sizes[sizes > tail]
    body = np.log(sizes[(sizes > 0) & (sizes <= tail)])
    alpha = len(above) / float(np.sum(np.log(above / tail))) if len(above) else 2.0  # Hill (1975)
    return {
        "size_body_log_quantiles": tuple(float(q) for q in np.quantile(body, np.linspace(0, 1, 101))),
        "size_tail_usd": tail,
        "size_tail_share": float(len(above) / len(sizes)),
        "size_tail_alpha": float(alpha),
        "size_max_usd": float(sizes.max()),
    }


def fit_flow(sample: SwapSample, reference: np.ndarray, fee_pips: int, source: str = "") -> FlowParams:
    """Fit the uninformed flow to ``sample`` (one pool's swaps) given the reference price at each swap."""
    smart = informed(sample, reference, fee_pips)
    days = max((sample.time[-1] - sample.time[0]) / DAY, 1.0 / 24)
    noise = sample.select(~smart)
    hours = (noise.time // 3600 % 24).astype(int)
    by_hour = np.bincount(hours, weights=noise.size_usd, minlength=24)
    same = noise.sell_usdc[1:] == noise.sell_usdc[:-1]
    impact = np.abs(np.diff(np.log(sample.price_after)))  # each swap's move, from the price the one before left
    return FlowParams(
        volume_per_liquidity=float(noise.size_usd.sum() / days / np.median(sample.liquidity)),
        reference_liquidity=float(np.median(sample.liquidity)),
        hourly_share=tuple(float(x) for x in by_hour / by_hour.sum()),
        persistence=float(same.mean()) if len(same) else 0.5,
        impact_limit=float(min(np.quantile(impact, 0.999), 0.5)),
        informed_share=float(sample.size_usd[smart].sum() / sample.size_usd.sum()),
        fee_pips=fee_pips,
        source=source,
        **_size_fit(noise.size_usd),
    )


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))
