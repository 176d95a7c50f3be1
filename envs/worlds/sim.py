"""The Uniswap V3 market on the simulator (rung 1): N worlds stepped together, no per-world loop.

The world's parameters (``V3WorldParams``), the pools laid at reset around each world's start price, the wallet
slots' tokens booked as arrays; the market's moves (``envs.worlds.market``) run on the batched pool component
(``SimUniswapV3Pool``) in raw units (USDC token0, 6 decimals; WETH token1, 18). With ``lending``, the world holds a
lending side over the batched lending pool of its protocol (Aave V3's ``SimAavePool`` or Morpho Blue's
``SimMorphoBlueMarket``), whose oracle follows the reference price and whose clock moves ``dt`` a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from envs.arrays import ArrayBackend, array_backend
from envs.drivers.base import PriceDriver
from envs.liquidity_profile import DEFAULT_LIQUIDITY_PROFILE
from envs.protocols.uniswap_v3 import pool as v3
from envs.units import BPS, TICK_SPACING, USDC_UNIT, WETH_UNIT
from envs.worlds.ledger import SimLedger
from envs.worlds.lending import LendingParams
from envs.worlds.lending_protocols import sim_sides
from envs.worlds.market import UniswapV3Market
from envs.worlds.reference_path import ReferencePath
from envs.worlds.v2_market import V2WorldParams
from envs.worlds.v2_pair import SimUniswapV2Pair
from envs.worlds.v2_pair_side import pair_beside
from envs.worlds.v3_pool import SimUniswapV3Pool
from envs.worlds.v3_pool_side import V3PoolBeside, pool_beside_params, sim_pool, v3_pool_beside


@dataclass(frozen=True)
class V3WorldParams:
    """A USDC/WETH pool (USDC token0, as on mainnet) and the flow around it."""

    fee_pips: int = 500
    pool_value_usd: float = 20_000_000.0  # background liquidity, spread over the profile
    liquidity_profile: tuple[tuple[float | None, float], ...] = DEFAULT_LIQUIDITY_PROFILE
    noise_traders: int = 2  # flow="toy" (and a V2 pair beside the pool, any flow): uninformed swaps per step
    noise_trade_usd: float = 5_000.0  # flow="toy" (and the V2 pair's): median noise swap (lognormal, sigma 1)
    flow: str = "toy"  # toy (the swaps above), calibrated (fitted to a real pool: envs.flows.calibrated), or replay
    flow_file: str | None = None  # calibrated: its parameters (default: the shipped fit); replay: the events to replay
    #: LP agents, each with a position slot and a wallet of its own (``agent_usd`` at reset); 0: none, a world
    #: the other agents trade in (the Aave envs', the arbitrageur's), whose background liquidity is the profile's
    #: and the scripted LPs'
    lps: int = 1
    #: scripted LPs that re-centre: (half-width in ticks, share of pool_value_usd) each, taken from the
    #: static profile's value; each opens its range around the start price and re-centres it whenever
    #: the price leaves it, as active LPs do (the tau-reset of Fan et al. 2022 with tau = 1)
    recentering_lps: tuple[tuple[int, float], ...] = ()
    #: a just-in-time LP with ``jit_usd`` of capital (0: none): before each uninformed swap worth at least
    #: ``jit_min_swap_usd`` it mints a range of ``jit_half_width`` ticks (0: one tick spacing) around the
    #: price, and burns it after the swap, keeping its share of the swap's fee; a learning JIT LP
    #: (``envs.roles.jit_provider``) sets the share of its capital it mints with (``jit_share``)
    jit_usd: float = 0.0
    jit_min_swap_usd: float = 250_000.0
    jit_half_width: int = 0
    #: the uninformed swaps' slippage limit in basis points (None: none): each swap's minimum output is its
    #: quote on the pool as it stands when the swap comes, less this; a swap that would get less reverts,
    #: as the SwapRouter's amountOutMinimum makes it
    slippage_bps: float | None = None
    #: a sandwich searcher with ``sandwich_usd`` of capital (0: none): around each uninformed swap it front-runs
    #: in the swap's direction with the most its capital and the swap's minimum output allow, and back-runs
    #: selling what it bought, where that profits (``envs.worlds.sandwich``); a learning searcher
    #: (``envs.roles.searcher``) sets the share of that largest front-run it takes (``sandwich_share``)
    sandwich_usd: float = 0.0
    #: the priority fee (gwei) each uninformed swap bids, shown with it while it is pending
    #: (``envs.worlds.mempool``): a wallet's default tip of the order of mainnet's typical 1 gwei, not fitted
    flow_priority_fee_gwei: float = 1.0
    #: flow="replay": the share of the recorded span, [start, end] fractions, an episode runs in; each reset
    #: starts at a random time of it that leaves the episode's steps inside (None: at the first event)
    replay_window: tuple[float, float] | None = None
    #: a Uniswap V2 USDC/WETH pair of this value beside the pool (0: none), seeded at the start price and traded
    #: each block after the pool by its own arbitrageur and ``noise_traders`` toy swaps (``envs.worlds.v2_pair_side``)
    v2_pair_usd: float = 0.0
    #: a second Uniswap V3 USDC/WETH pool of this value beside the pool (0: none), at fee tier
    #: ``v3_pool_beside_fee_pips`` (not the pool's own), laid over the default profile at the start price and traded
    #: each block after the pool by its own arbitrageur and ``noise_traders`` toy swaps (``envs.worlds.v3_pool_side``)
    v3_pool_beside_usd: float = 0.0
    v3_pool_beside_fee_pips: int = 3000

    def __post_init__(self):
        v3.V3PoolParams(fee_pips=self.fee_pips)  # checks the tier
        if self.lps < 0:
            raise ValueError(f"lps={self.lps} must be the number of LP agents, 0 or more")
        for half_width, share in self.recentering_lps:
            if half_width < 1 or not 0 < share < 1:
                raise ValueError(
                    f"recentering_lps entries are [half-width in ticks >= 1, share in (0, 1)], got "
                    f"{[half_width, share]}"
                )
        if self.jit_usd < 0 or self.jit_min_swap_usd < 0 or self.jit_half_width < 0:
            raise ValueError("jit_usd, jit_min_swap_usd and jit_half_width must be non-negative")
        if self.slippage_bps is not None and not 0 <= self.slippage_bps < BPS:
            raise ValueError(f"slippage_bps={self.slippage_bps} must be in [0, {BPS}) basis points, or None")
        if self.sandwich_usd < 0:
            raise ValueError(f"sandwich_usd={self.sandwich_usd} must be non-negative")
        if self.v2_pair_usd < 0:
            raise ValueError(f"v2_pair_usd={self.v2_pair_usd} must be non-negative (0: no V2 pair beside the pool)")
        if self.v3_pool_beside_usd > 0 and self.v3_pool_beside_fee_pips == self.fee_pips:
            raise ValueError(
                f"v3_pool_beside_fee_pips={self.v3_pool_beside_fee_pips} is the pool's own tier: a chain holds one "
                f"USDC/WETH pool a tier; set v3_pool_beside_fee_pips to another of {sorted(TICK_SPACING)}"
            )
        self.v3_pool_beside()  # checks its value and tier
        if self.flow_priority_fee_gwei < 0:
            raise ValueError(f"flow_priority_fee_gwei={self.flow_priority_fee_gwei} must be non-negative")
        if self.recentering_share >= 1:
            raise ValueError(
                f"recentering_lps take {self.recentering_share:g} of pool_value_usd: leave the static "
                f"profile some (their shares must add up to less than 1)"
            )
        if self.pool_value_usd <= 0 or self.noise_trade_usd < 0 or self.noise_traders < 0:
            raise ValueError("pool_value_usd must be positive; noise_traders and noise_trade_usd non-negative")
        if abs(sum(share for _, share in self.liquidity_profile) - 1) > 1e-9:
            raise ValueError("liquidity_profile shares must add up to 1")
        if self.flow not in ("toy", "calibrated", "replay"):
            raise ValueError(f"flow={self.flow!r} must be 'toy', 'calibrated' or 'replay' (with flow_file: events)")
        if self.flow == "replay" and not self.flow_file:
            raise ValueError("flow=replay needs flow_file: an event file or export to replay (python -m envs.data)")
        if self.replay_window is not None and (
            len(self.replay_window) != 2 or not 0 <= self.replay_window[0] < self.replay_window[1] <= 1
        ):
            raise ValueError(
                f"replay_window={self.replay_window} must be [start, end] fractions of the recorded span, "
                f"0 <= start < end <= 1"
            )

    def v2_pair(self) -> V2WorldParams | None:
        """The V2 pair beside the pool (``v2_pair_usd``), with the toy flow's noise traders; None: none."""
        if self.v2_pair_usd <= 0:
            return None
        return V2WorldParams(self.v2_pair_usd, self.noise_traders, self.noise_trade_usd)

    def v3_pool_beside(self) -> V3PoolBeside | None:
        """The V3 pool beside the pool (``v3_pool_beside_usd``), laid over the default profile (its own LPs: the
        pool's profile is what its re-centring LPs leave), with the toy flow's noise traders; None: none."""
        return pool_beside_params(self.v3_pool_beside_usd, self.v3_pool_beside_fee_pips, self)

    @property
    def recentering_share(self) -> float:
        """The share of ``pool_value_usd`` the re-centring LPs hold (the static profile holds the rest)."""
        return sum(share for _, share in self.recentering_lps)

    @property
    def scripted_lps(self) -> bool:
        """Whether the world adds scripted traders (re-centring or JIT LPs, the sandwich searcher) with wallets
        of their own to a market of its own."""
        return bool(self.recentering_lps) or self.jit_usd > 0 or self.sandwich_usd > 0

    @property
    def slots(self) -> int:
        """Position slots and wallets: the LP agents', the re-centring LPs', the searcher's, then the JIT LP's."""
        return self.lps + len(self.recentering_lps) + (self.sandwich_usd > 0) + (self.jit_usd > 0)

    @property
    def searcher_slot(self) -> int:
        """The sandwich searcher's wallet, after the re-centring LPs'."""
        return self.lps + len(self.recentering_lps)

    @property
    def jit_slot(self) -> int:
        """The JIT LP's wallet: the last slot."""
        return self.slots - 1

    def wallets_usd(self, agent_usd: float | None) -> np.ndarray:
        """(slots,) each slot's starting value: ``agent_usd`` per LP agent, its share for a re-centring LP,
        ``sandwich_usd`` for the searcher, ``jit_usd`` for the JIT LP. ``agent_usd`` is given exactly when the
        world has LP agents."""
        if self.lps and agent_usd is None:
            raise ValueError(
                f"this world has {self.lps} LP agent(s): reset(rng, agent_usd=...) gives each its starting "
                f"capital in USD; a world without an LP agent is built with V3WorldParams(lps=0)"
            )
        if not self.lps and agent_usd is not None:
            raise ValueError(
                f"this world has no LP agent (lps=0): agent_usd={agent_usd} would fund nobody; reset(rng) "
                f"without it, or build the world with V3WorldParams(lps=1) for an LP agent"
            )
        return np.array(
            [agent_usd] * self.lps
            + [self.pool_value_usd * share for _, share in self.recentering_lps]
            + ([self.sandwich_usd] if self.sandwich_usd > 0 else [])
            + ([self.jit_usd] if self.jit_usd > 0 else [])
        )


class UniswapV3World(UniswapV3Market):
    """The market in N worlds on an array backend: the pool component's batched state, the wallet slots' tokens
    booked in a ``SimLedger``; with ``lending`` (one ``LendingParams`` or several, one per protocol), lending
    sides beside the pool over the batched pools of their protocols (``envs.worlds.lending_protocols``)."""

    v3_pool: SimUniswapV3Pool
    ledger: SimLedger
    #: count the scripted flows' volume in ``flow_volume_usd`` (the turnover check sets it; the env step
    #: does not pay for it otherwise)
    count_flow_volume: bool = False

    def __init__(
        self,
        n: int,
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        backend: ArrayBackend | str = "numpy",
        lending: LendingParams | Sequence[LendingParams] | None = None,
    ):
        self.n, self.driver, self.params, self.dt = n, driver, params, driver.dt
        self.path = ReferencePath(driver)
        self.b = array_backend(backend) if isinstance(backend, str) else backend
        self.v3_pool = SimUniswapV3Pool(
            n, self.b, v3.V3PoolParams(fee_pips=params.fee_pips, max_positions=params.slots)
        )
        self.fee_pips, self.tick_spacing = params.fee_pips, self.pool_params.tick_spacing
        self.slots, self.lp = params.slots, 0
        beside = pair_beside(self, params.v2_pair(), lambda: SimUniswapV2Pair(n, self.b)) + v3_pool_beside(
            self, params.v3_pool_beside(), sim_pool(n, self.b)
        )
        self.components = beside + sim_sides(self, lending, self.b)

    @property
    def state(self) -> v3.V3PoolState:
        """The pools' batched state: the component's (``v3_pool``)."""
        return self.v3_pool.state

    @state.setter
    def state(self, value: v3.V3PoolState) -> None:
        self.v3_pool.state = value

    @property
    def pool_params(self) -> v3.V3PoolParams:
        """The pools' parameters (fee tier, position slots): the component's."""
        return self.v3_pool.params

    @pool_params.setter
    def pool_params(self, value: v3.V3PoolParams) -> None:
        self.v3_pool.params = value

    # --- episode ----------------------------------------------------------------------------
    def start(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """Lay each world's liquidity around its own start price the way build_market mints it; fund each LP
        agent with ``agent_usd`` (given exactly when the world has LP agents) and the scripted traders."""
        p = self.params
        self.rng = rng
        start = self.path.reset(rng, self.n)
        self.v3_pool.seed(start, p.pool_value_usd * (1 - p.recentering_share), p.liquidity_profile)
        self.fund_agents(agent_usd)

    def fund_agents(self, agent_usd: float | None) -> None:
        """Each slot's wallet, half in USDC, half in WETH at the reference (``agent_usd`` for an LP agent,
        ``V3WorldParams.wallets_usd``); the flow starts; the re-centring LPs open their ranges."""
        self.ledger = SimLedger(self.n)
        for slot, usd in enumerate(self.params.wallets_usd(agent_usd)):
            self.ledger.open(slot, np.floor(usd / 2 * USDC_UNIT), np.floor(usd / 2 / self.path.now * WETH_UNIT))
        self.start_flow()
        self.flow_volume_usd = np.zeros(self.n) if self.count_flow_volume else None
        self.open_recentering()
