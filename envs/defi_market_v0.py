"""``defi_market_v0``: a PettingZoo ParallelEnv where liquidity providers, arbitrageurs,
liquidators, a borrower and traders act in one market: a Uniswap V3 USDC/WETH pool and an Aave V3
market whose scripted borrowers keep target LTVs. Every agent is learnable.

| | |
|---|---|
| Agents | ``liquidity_provider_{i}`` (``n_lps``: 0 or more; without one the pool is the scripted LPs'), ``arbitrageur_{i}`` (``n_arbitrageurs``), ``liquidator_{i}`` (``n_liquidators``), ``borrower_0`` (``n_borrowers``: 0 or 1), ``trader_{i}`` (``n_traders``), ``searcher_0`` (``n_searchers``: 0 or 1), ``jit_provider_0`` (``n_jit_providers``: 0 or 1) |
| Action spaces | LP: ``Discrete(1 + len(half_widths))`` (0 holds, i re-centres); arbitrageur: ``Discrete(5)`` (share of the trade to the band's edge); liquidator: ``Discrete(5)`` (0 waits, i liquidates the account in slot i); borrower: ``Discrete(6)`` (0 holds, i moves to a target LTV); trader: ``Discrete(5)`` (0 waits, buy or sell $5k or $50k of WETH); searcher: ``Discrete(5)`` (share 0, 0.25, 0.5, 0.75 or 1 of the largest sandwich the victims' limits allow); JIT provider: ``Discrete(5)`` (share 0, 0.25, 0.5, 0.75 or 1 of its capital minted around each large swap) |
| Observation spaces | LP: ``Box(9,)`` (envs.roles.liquidity_provider); arbitrageur: ``Box(5,)`` (envs.roles.arbitrageur); liquidator: ``Box(20,)`` (envs.roles.liquidator); borrower: ``Box(8,)`` (envs.roles.borrower); trader: ``Box(5,)`` (envs.roles.trader); searcher: ``Box(9,)`` (envs.roles.searcher); JIT provider: ``Box(9,)`` (envs.roles.jit_provider) |
| Import | ``from envs import defi_market_v0`` |

Each step is one block. The agents' transactions land in ``order``: "random" shuffles them every
block with the env's generator; "priority" sorts them by ``priority_fees_gwei`` (highest first, ties
in ``possible_agents`` order), and each agent pays its priority fee on the gas it uses. Then a
scripted arbitrageur (with probability ``compete``), a scripted liquidator (``scripted_liquidator``)
that takes every account still below a health factor of 1, the noise traders and the borrowers
act; then the reference price, and Aave's oracle with it, moves. Liquidators sell the WETH they
seize into the pool, so a crash that triggers liquidations pushes the pool below the reference,
where the arbitrageurs buy it back; a levered borrower agent can be among those liquidated. The LP
is rewarded by its role (PnL net of gas by default), each arbitrageur and liquidator by its profit
net of gas, the borrower by its change in equity, each trader by its book's mark-to-market PnL, the
searcher by its take from sandwiching the block's uninformed swaps (it needs ``world["sandwich_usd"]``, its
capital, and ``world["slippage_bps"]``, the victims' limits; its share applies when the flow trades, after
the agents), the JIT provider by its PnL at the reference price from minting around the block's large
uninformed swaps and burning after them (it needs ``world["jit_usd"]``, its capital; its share applies when the
flow trades). Episodes truncate after ``horizon`` steps; nothing terminates.

The block's uninformed swaps are drawn when the block before it closes (at reset for the first), after its order
and the scripted arbitrageur's draw, from the same generator and in the same order as when they were drawn as they
traded: they wait in a mempool (``envs.worlds.mempool``: direction, size, slippage limit, gas, priority fee) the
searcher and the JIT provider observe (count, total and largest size, the largest's priority fee), and the block
runs exactly them. Under "priority" the searcher's bundles (front-run, victim, back-run) go before the first
agent that bid less than it (``priority_fees_gwei["searcher_0"]``), carrying every pending swap of the markets
where it takes a share; bidding no more than any agent, they ride with the flow after the scripted market, as
under "random". The searcher's info says where they ran (``bundle_position``; the number of agents: with the
flow). Each leg the block sent pays the block producer the measured Uniswap V3 swap's gas (``v3_swap``) at the base
gas price plus the searcher's bid, and the JIT provider's round trips around the swaps pay a mint and a close
(``v3_mint`` and ``REBALANCE_CLOSE``) at the base price plus its bid; both count only what the world ran, as it
counted it (``sandwich_legs``: the legs of the sandwiches that paid before gas; ``jit_round_trips``: a mint around
each swap large enough), and their rewards are net of it. The uninformed swaps pay their own gas (``v3_swap``) at
the base price plus ``world["flow_priority_fee_gwei"]``.

Every agent's info also carries the block's arbitrage accounts (``envs.worlds.block_accounting``), every
arbitrage swap of the block (the arbitrageur agents' and the scripted one's) marked at the block's
reference price: ``block_lvr_usd``, the LPs' loss on those swaps excluding fees (realized LVR, Milionis
et al. 2022; read off the pool's liquidity curve), ``block_arbitrage_profit_usd``, the arbitrageurs'
profit before gas, and ``block_arbitrage_fees_usd``, the fees they paid the pool. They close:
LVR = profit + fees, to rounding. Every swap of the block on the world's pool is accounted the same way, by who
swapped (a lending side that routes, ``env.lending.route``, may swap on a pool beside it, which these leave out):
``block_swaps_usd_<group>`` (``arbitrage``, ``flow``, ``sandwich``, ``lp_rebalance``: the swappers' gain
before gas), ``block_lp_fees_usd`` (the fees all swaps paid the LPs), ``block_lp_reserves_usd`` (the change
in the tokens the LPs' liquidity holds, fees excluded) and ``block_imbalance_usd``, the sum of the three,
zero to rounding; ``block_producer_usd`` is the gas and priority fees the agents paid the block producer (the
searcher's legs and the JIT provider's round trips among them: the sum of every agent's ``gas_usd``), and
``block_flow_gas_usd`` what the uninformed swaps paid it; the producer's take is their sum. Backends: numpy and
torch (the simulator), evm and anvil (the real contracts), one market per ``parallel_env``.

Many markets at once: ``vector_env(num_markets=N, backend="numpy" or "torch", ...)`` steps N markets
of the same agents together (``ParallelVectorEnv``): PettingZoo's parallel API with a leading market
axis (observations ``{agent: (N, F)}``, actions ``{agent: (N,)}``, rewards, terminations and
truncations ``{agent: (N,)}``, infos ``{agent: {key: (N,)}}``). The markets share the horizon, so they
end together and reset in the same step (the last observations in ``infos[agent]["final_obs"]``).
With ``order="random"`` one permutation per block is drawn for all N markets. ``reset(seed=s)`` draws
every market from one generator (fast); ``reset(seed=[s_0, ..., s_N-1])`` gives market i a generator of
its own, so it plays as ``parallel_env().reset(seed=s_i)`` would (exactly with ``order="priority"``; a
random order comes from market 0's generator), at the cost of one draw per market. ``parallel_env`` is
the one-market case of the same block (``Markets``).

Version History
* v0: initial version.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, cast

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from envs.drivers import episode_driver
from envs.episodes import check_vector_options
from envs.roles.arbitrageur import Arbitrageur
from envs.roles.borrower import Borrower
from envs.roles.jit_provider import JITProvider, check_jit_world
from envs.roles.liquidator import Liquidator
from envs.roles.liquidity_provider import DEFAULT_HALF_WIDTHS, LiquidityProvider
from envs.roles.role import Receipt, Role
from envs.roles.scripted_share import ScriptedShare
from envs.roles.searcher import SandwichSearcher, check_sandwich_world
from envs.roles.trader import Trader
from envs.spec import NON_NEGATIVE, POSITIVE, UNIT, EnvSpec, LendingConfig, ranged
from envs.units import WETH_UNIT
from envs.worlds.block_accounting import BlockAccounts
from envs.worlds.lending import AGENT_ACCOUNT, COMPETITOR, lending_of
from envs.worlds.make import V3_POOL_WITH_LENDING, make_world
from envs.worlds.mempool import Mempool
from envs.worlds.sim import V3WorldParams

WORLD = V3_POOL_WITH_LENDING  # what its world is made of (its spec's ``world``)

LP_ROLE = "liquidity_provider"
LP = f"{LP_ROLE}_0"  # the first LP agent
ARBITRAGEUR, LIQUIDATOR, BORROWER, TRADER, SEARCHER = "arbitrageur", "liquidator", "borrower", "trader", "searcher"
JIT_PROVIDER = "jit_provider"


def agent_role(agent: str) -> tuple[str, int]:
    """``"liquidator_1"`` -> ("liquidator", 1): an agent's role and its index within the role."""
    role, index = agent.rsplit("_", 1)
    return role, int(index)


def count_key(role: str) -> str:
    """The setting that says how many agents of ``role`` the market has (``n_lps`` for the LPs)."""
    return "n_lps" if role == LP_ROLE else f"n_{role}s"


def env(**kwargs):
    """The AEC form, wrapped as PettingZoo wraps its own envs."""
    return wrappers.OrderEnforcingWrapper(parallel_to_aec(parallel_env(**kwargs)))


def raw_env(**kwargs):
    return parallel_to_aec(parallel_env(**kwargs))


class WorldStreams:
    """One generator per market behind the numpy ``Generator`` calls the worlds and drivers make: a draw
    whose leading axis is the markets takes row i from generator i, so market i of a batch draws what a
    lone market seeded alike draws. One call per market per draw: for exact per-market play, not speed."""

    def __init__(self, generators: Sequence[np.random.Generator]):
        self.generators, self.n = list(generators), len(generators)

    def _rows(self, method: str, size, *params) -> np.ndarray:
        """Each market's draw of ``size[1:]`` (``size[0]`` must be the markets), stacked on the leading axis;
        array parameters of shape (N,) are split by market."""
        shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size) if size is not None else None
        if shape is None:
            shapes = {np.shape(p) for p in params} - {()}
            if shapes != {(self.n,)}:
                raise ValueError(f"a per-market draw needs the markets ({self.n}) on the leading axis, got {shapes}")
            return np.concatenate(
                [
                    getattr(g, method)(*(p[i : i + 1] if np.ndim(p) else p for p in params))
                    for i, g in enumerate(self.generators)
                ]
            )
        if not shape or shape[0] != self.n:
            raise ValueError(f"a per-market draw needs the markets ({self.n}) on the leading axis, got size {size}")
        return np.concatenate(
            [
                getattr(g, method)(*(np.asarray(p)[i] if np.ndim(p) else p for p in params), size=(1,) + shape[1:])
                for i, g in enumerate(self.generators)
            ]
        )

    def random(self, size=None) -> np.ndarray:
        return self._rows("random", size)

    def standard_normal(self, size=None) -> np.ndarray:
        return self._rows("standard_normal", size)

    def uniform(self, low=0.0, high=1.0, size=None) -> np.ndarray:
        return self._rows("uniform", size, low, high)

    def integers(self, low, high=None, size=None) -> np.ndarray:
        return self._rows("integers", size, low, high)

    def poisson(self, lam=1.0, size=None) -> np.ndarray:
        return self._rows("poisson", size, lam)

    def spawn(self, n_children: int) -> list["WorldStreams"]:
        """Each market's generator spawns its own children, as a lone market's would."""
        children = [g.spawn(n_children) for g in self.generators]
        return [WorldStreams([c[k] for c in children]) for k in range(n_children)]


def market_generator(seed: int | Sequence[int] | None, n: int) -> np.random.Generator | WorldStreams:
    """One generator for every market (``seed`` an int or None), or one per market (``seed`` n ints)."""
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    seeds = [int(s) for s in seed]
    if len(seeds) != n:
        raise ValueError(f"give one seed per market: {n} markets, {len(seeds)} seeds")
    return WorldStreams([np.random.default_rng(s) for s in seeds])


class Markets:
    """``n`` markets with the same agents, stepped together: each block runs every agent's transactions
    over all the markets at once (one role call per agent, vectorised over the markets), then the
    scripted market; the block's order is shared by the markets. ``parallel_env`` is its one-market
    case, ``ParallelVectorEnv`` its N-market face."""

    def __init__(
        self,
        n: int = 1,
        n_arbitrageurs: int = 2,
        n_liquidators: int = 1,
        n_borrowers: int = 0,
        n_traders: int = 0,
        n_lps: int = 1,
        n_searchers: int = 0,
        n_jit_providers: int = 0,
        backend: str = "numpy",
        driver: str = "gbm",
        driver_kwargs: dict | None = None,
        fee_pips: int = 500,
        horizon: int = 720,
        agent_usd: float = 100_000.0,
        order: str = "random",
        priority_fees_gwei: dict[str, float] | None = None,
        compete: float = 0.0,
        scripted_liquidator: bool = True,
        half_widths: tuple[int, ...] = DEFAULT_HALF_WIDTHS,
        lp_reward: str = "pnl",
        gas_price_gwei: float = 10.0,
        world: dict | None = None,
        lending: dict | None = None,
        device: str | None = None,
        fork_url: str | None = None,
        fork_block: int | None = None,
        addresses: str | None = None,
    ):
        if order not in ("random", "priority"):
            raise ValueError(f"order must be 'random' or 'priority', got {order!r}")
        if min(n_lps, n_arbitrageurs, n_liquidators, n_traders) < 0 or horizon < 1 or not 0 <= compete <= 1:
            raise ValueError(
                "n_lps, n_arbitrageurs, n_liquidators and n_traders must be >= 0, horizon >= 1, compete in [0, 1]"
            )
        if n_borrowers not in (0, 1):
            raise ValueError(f"n_borrowers must be 0 or 1 (the market has one agent Aave account), got {n_borrowers}")
        if n_searchers not in (0, 1):
            raise ValueError(
                f"n_searchers must be 0 or 1 (the world has one sandwich searcher's wallet), got {n_searchers}"
            )
        if n_jit_providers not in (0, 1):
            raise ValueError(
                f"n_jit_providers must be 0 or 1 (the world has one JIT LP's wallet), got {n_jit_providers}"
            )
        if n < 1:
            raise ValueError(f"a batch needs at least one market, got {n}")
        self.n = n
        self.possible_agents = (
            [f"{LP_ROLE}_{i}" for i in range(n_lps)]
            + [f"{ARBITRAGEUR}_{i}" for i in range(n_arbitrageurs)]
            + [f"{LIQUIDATOR}_{i}" for i in range(n_liquidators)]
            + [f"{BORROWER}_{i}" for i in range(n_borrowers)]
            + [f"{TRADER}_{i}" for i in range(n_traders)]
            + [f"{SEARCHER}_{i}" for i in range(n_searchers)]
            + [f"{JIT_PROVIDER}_{i}" for i in range(n_jit_providers)]
        )
        fees = dict(priority_fees_gwei or {})
        unknown = sorted(set(fees) - set(self.possible_agents))
        if unknown or any(f < 0 for f in fees.values()):
            raise ValueError(
                f"priority_fees_gwei (env.priority_fees_gwei) must map agents of {self.possible_agents} to fees >= 0; "
                f"unknown agents: {unknown}"
            )
        self.priority_fees = {a: float(fees.get(a, 0.0)) for a in self.possible_agents}
        #: the block's order under order="priority": highest fee first, equal fees in possible_agents order
        self.priority_order = sorted(
            self.possible_agents, key=lambda a: (-self.priority_fees[a], self.possible_agents.index(a))
        )
        roles: dict[str, Callable[[], Role]] = {
            LP_ROLE: lambda: LiquidityProvider(tuple(half_widths), reward=lp_reward, gas_price_gwei=gas_price_gwei),
            ARBITRAGEUR: lambda: Arbitrageur(gas_price_gwei=gas_price_gwei),
            LIQUIDATOR: lambda: Liquidator(gas_price_gwei=gas_price_gwei),
            BORROWER: lambda: Borrower(gas_price_gwei=gas_price_gwei),
            TRADER: lambda: Trader(gas_price_gwei=gas_price_gwei),
            SEARCHER: lambda: SandwichSearcher(gas_price_gwei=gas_price_gwei),
            JIT_PROVIDER: lambda: JITProvider(gas_price_gwei=gas_price_gwei),
        }
        #: one role object per agent: each keeps its own volatility estimate, book and value, (n,) each
        self.roles: dict[str, Role] = {a: roles[agent_role(a)[0]]() for a in self.possible_agents}
        self.gas_price_gwei = gas_price_gwei
        kwargs = dict(driver_kwargs or ({"dt": 60.0, "sigma": 0.8} if driver == "gbm" else {}))
        self.driver = episode_driver(driver, kwargs, horizon + 1)
        params = V3WorldParams(fee_pips=fee_pips, lps=n_lps, **(world or {}))
        if n_searchers:
            check_sandwich_world(params)
        if n_jit_providers:
            check_jit_world(params)
        self.market = make_world(  # the pool beside its lending market
            WORLD,
            backend,
            n,
            self.driver,
            params,
            lending,
            device=device,
            fork_url=fork_url,
            fork_block=fork_block,
            addresses=addresses,
        )
        #: the block's swaps marked at the reference price, kept by the world (envs.worlds.block_accounting)
        self.accounts = BlockAccounts(n, fee_pips)
        self.market.accounts = self.accounts
        self.horizon, self.agent_usd, self.order, self.compete = horizon, agent_usd, order, compete
        self.scripted_liquidator = scripted_liquidator
        #: under order="priority", the agent whose transaction the searcher's bundles go just before: the first
        #: in the block that bid less than the searcher (None: they ride with the flow, after the scripted market)
        self.bundle_before = self._bundle_before() if n_searchers and order == "priority" else None
        self.t = 0

    @property
    def done(self) -> bool:
        """The markets share the horizon, so they end together."""
        return self.t >= self.horizon

    def reset(self, rng: np.random.Generator | WorldStreams) -> dict[str, np.ndarray]:
        """Start every market's episode from ``rng``; returns each agent's observations, (n, F)."""
        self.rng, n = rng, self.n
        # each LP agent starts with agent_usd, half USDC, half WETH; without one (None) only the scripted traders
        # are funded (the borrower agent is, below); WorldStreams draws as a Generator does
        lp_usd = self.agent_usd if self.market.params.lps else None
        self.market.reset(cast(np.random.Generator, rng), lp_usd)
        if f"{BORROWER}_0" in self.possible_agents:  # the borrower agent starts with agent_usd of WETH supplied
            lending = lending_of(self.market)
            lending.fund_borrower(np.floor(self.agent_usd / self.market.reference_price() * WETH_UNIT))
            lending.supply(AGENT_ACCOUNT, np.floor(lending.borrower_wallet()[1] * WETH_UNIT), np.ones(n, bool))
        for agent in self.possible_agents:
            self._select(agent)
            self.roles[agent].reset(self.market)
        self.market.move_reference()  # the first block's price gap
        self.t = 0
        self._draw_block()
        return self._observe()

    def _draw_block(self) -> None:
        """Before a block, what it draws: its order, where the scripted arbitrageur competes, and its uninformed
        swaps, pending until the block runs them (the agents observe them first). Drawn in the order, and from
        the generator, the block's steps once drew them in, so the markets play as when the flow was drawn as it
        traded (the calibrated flow's sizes follow the pool's depth as the block before left it)."""
        self.order_of_block = self.block_order()
        self.competes = self.rng.random(self.n) < self.compete
        self.market.draw_pending()

    def _bundle_before(self) -> str | None:
        """The first agent in the priority order that bid less than the searcher and trades on the pool (the
        searcher and the JIT provider only steer the scripted traders), or None."""
        fee = self.priority_fees[f"{SEARCHER}_0"]
        later = [
            a
            for a in self.priority_order
            if self.priority_fees[a] < fee and not isinstance(self.roles[a], ScriptedShare)
        ]
        return later[0] if later else None

    def _select(self, agent: str) -> None:
        """Point the market's LP reads and actions at ``agent``'s position if it is an LP."""
        role, index = agent_role(agent)
        if role == LP_ROLE:
            self.market.select_lp(index)

    def _observe(self) -> dict[str, np.ndarray]:
        """Every agent's observations after the block, (n, F) (each role reads the market once)."""
        obs = {}
        for agent in self.possible_agents:
            self._select(agent)
            obs[agent] = self.roles[agent].observe(self.market, self.t / self.horizon)
        return obs

    def block_order(self) -> list[str]:
        """This block's order of the agents' transactions, the same in every market."""
        if self.order == "priority":
            return list(self.priority_order)
        sequence = list(self.possible_agents)
        rng = self.rng.generators[0] if isinstance(self.rng, WorldStreams) else self.rng
        rng.shuffle(sequence)
        return sequence

    def _run_bundles(self, receipts: dict[str, Receipt]) -> None:
        """The searcher's bundles, at their place in the block (``bundle_before``): every pending swap of the
        worlds where the searcher takes a share, each between its front-run and back-run where the sandwich
        pays (alone where it does not), with the JIT LP's range around it where it acts."""
        market, searcher = self.market, f"{SEARCHER}_0"
        bundled = np.broadcast_to(np.asarray(market.sandwich_share, dtype=float), (self.n,)) > 0
        market.execute_pending(bundled)
        position = float(self.order_of_block.index(cast(str, self.bundle_before)))
        # where the searcher sat out, the swaps wait for the flow, after every agent
        receipts[searcher].info["bundle_position"] = np.where(bundled, position, float(len(self.order_of_block)))

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
        """One block in every market: the agents' transactions (``actions[agent]``: (n,) or (n, 2)) in block
        order, the scripted market after them, the reference moves; then every agent observes and is
        scored (``envs.roles.role``). Returns observations (n, F), rewards (n,) and infos {key: (n,)}."""
        missing = set(self.possible_agents) - set(actions)
        if missing:
            raise ValueError(f"no action for {sorted(missing)}: a parallel env needs one for every live agent")
        market = self.market
        self.accounts.clear()
        flow = cast(Mempool, market.pending)  # the block's uninformed swaps, drawn as the block before closed
        steering = [a for a in self.order_of_block if isinstance(self.roles[a], ScriptedShare)]
        receipts = self._agents_act(actions, steering)
        self._scripted_market()
        for agent in steering:  # their transactions ran around the flow's swaps: what the world sent, paid now
            role = cast(ScriptedShare, self.roles[agent])
            receipts[agent] = role.sent(market, receipts[agent]).with_priority_fee(
                self.priority_fees[agent], market.reference_price()
            )
        flow_gas = flow.gas_usd(self.gas_price_gwei, market.reference_price())
        market.move_reference()
        self.t += 1
        if not self.done:  # the last block's close draws nothing: a reset goes on from the generator as it was
            self._draw_block()
        return self._observe(), *self._score(receipts, flow_gas)

    def _agents_act(self, actions: dict[str, Any], steering: list[str]) -> dict[str, Receipt]:
        """The agents' transactions in block order: the choices of the agents that steer the scripted traders
        around the pending swaps (``steering``: the searcher, the JIT provider) first, made before any transaction
        of the block (they touch neither the pool nor the generator); the searcher's bundles at their place. Each
        receipt carries its priority fee, how far it moved the pool and its place in the block."""
        market, n, order = self.market, self.n, self.order_of_block
        receipts: dict[str, Receipt] = {}
        for agent in steering + [a for a in order if a not in steering]:
            if agent == self.bundle_before:
                self._run_bundles(receipts)
            self._select(agent)
            pool_before = market.pool_price()
            receipt = self.roles[agent].act(market, actions[agent])
            receipt = receipt.with_priority_fee(self.priority_fees[agent], market.reference_price())
            receipt.info |= {
                "pool_move_pct": 100 * np.log(market.pool_price() / pool_before),
                "position_in_block": np.full(n, float(order.index(agent))),
            }
            receipts[agent] = receipt
        if f"{SEARCHER}_0" in receipts and self.bundle_before is None:
            receipts[f"{SEARCHER}_0"].info["bundle_position"] = np.full(n, float(len(order)))  # with the flow
        return receipts

    def _scripted_market(self) -> None:
        """After the agents: the scripted arbitrageur where it competes, the scripted liquidator, the uninformed
        flow, the re-centring LPs, the trades on any pool beside the world's, then the scripted borrowers."""
        market = self.market
        market.arbitrage(self.competes)
        lending = lending_of(market)
        if self.scripted_liquidator:
            lending.liquidate_unhealthy(COMPETITOR)
        market.noise()
        market.recenter()
        market.pools_beside_trade()
        lending.borrowers_act()

    def _score(
        self, receipts: dict[str, Receipt], flow_gas: np.ndarray
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
        """Every agent's reward and info for the block: its receipt's, its role's score and the block's accounts."""
        rewards, infos = {}, {}
        accounts = self.accounts.info() | {
            "block_producer_usd": self._block_producer_usd(receipts),
            "block_flow_gas_usd": flow_gas,
        }
        for agent in self.possible_agents:
            self._select(agent)
            rewards[agent], info = self.roles[agent].score(self.market, receipts[agent])
            infos[agent] = receipts[agent].info | info | accounts
        return rewards, infos

    def _block_producer_usd(self, receipts: dict[str, Receipt]) -> np.ndarray:
        """(n,) what the agents' transactions paid the block producer, gas and priority fees, in USD (the searcher's
        legs and the JIT provider's round trips among them; the flow's swaps pay it ``block_flow_gas_usd``)."""
        return sum((receipt.gas_usd for receipt in receipts.values()), np.zeros(self.n))  # in turn, as a lone market

    def close(self) -> None:
        if hasattr(self.market, "close"):
            self.market.close()


class parallel_env(ParallelEnv):  # noqa: N801  (PettingZoo's convention)
    """One market on any backend (numpy, torch, evm, anvil): ``Markets`` with n = 1, its arguments."""

    metadata = {"name": "defi_market_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, **kwargs: Any):
        self.core = Markets(1, **kwargs)
        self.possible_agents, self.roles, self.market = self.core.possible_agents, self.core.roles, self.core.market
        self.driver, self.horizon, self.order = self.core.driver, self.core.horizon, self.core.order
        self.agents: list[str] = []

    @property
    def t(self) -> int:
        return self.core.t

    @property
    def rng(self) -> np.random.Generator | WorldStreams:
        return self.core.rng

    def role_of(self, agent: str):
        """The role object (spaces, observation, action decoding) an agent plays."""
        return self.roles[agent]

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return self.role_of(agent).observation_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return self.role_of(agent).action_space

    def reset(self, seed=None, options=None):
        obs = self.core.reset(np.random.default_rng(seed))
        self.agents = list(self.possible_agents)
        return {a: o[0] for a, o in obs.items()}, {a: {} for a in self.agents}

    def step(self, actions):
        missing = set(self.agents) - set(actions)
        if missing:
            raise ValueError(f"no action for {sorted(missing)}: a parallel env needs one for every live agent")
        if not self.agents:
            return {}, {}, {}, {}, {}
        obs, rewards, infos = self.core.step({a: np.asarray(actions[a])[None] for a in self.agents})
        done = self.core.done
        out = (
            {a: o[0] for a, o in obs.items()},
            {a: float(r[0]) for a, r in rewards.items()},
            {a: False for a in self.agents},
            {a: done for a in self.agents},
            {a: {k: float(v[0]) for k, v in info.items()} for a, info in infos.items()},
        )
        if done:
            self.agents = []
        return out

    def vector(self) -> "ParallelVectorEnv":
        """This market as a one-market ``ParallelVectorEnv`` (arrays with a leading axis of 1, autoreset)."""
        return ParallelVectorEnv.over(self.core)

    def close(self):
        self.core.close()


class ParallelVectorEnv:
    """``num_markets`` markets of the same agents stepped together on the batched simulator (numpy or
    torch): PettingZoo's parallel API with a leading market axis. ``reset(seed)`` returns ({agent: (N, F)},
    infos); ``step({agent: (N,) actions})`` returns observations, rewards (N,), terminations and truncations
    (N,) and infos {agent: {key: (N,)}}. The markets share the horizon: at its end every market resets in
    the same step (SAME_STEP autoreset), the last observations in ``infos[agent]["final_obs"]``. The other
    arguments are ``Markets``' (``parallel_env``'s)."""

    metadata = {"name": "defi_market_v0_vector", "render_modes": [], "autoreset_mode": "same_step"}
    render_mode = None

    def __init__(self, num_markets: int = 64, backend: str = "numpy", **kwargs: Any):
        check_vector_options("defi_market_v0", backend, {})
        self._bind(Markets(num_markets, backend=backend, **kwargs))

    @classmethod
    def over(cls, core: Markets) -> "ParallelVectorEnv":
        """The vector face of markets already built (e.g. one ``parallel_env``'s market, on any backend)."""
        vec = cls.__new__(cls)
        vec._bind(core)
        return vec

    def _bind(self, core: Markets) -> None:
        self.core, self.num_markets = core, core.n
        self.possible_agents, self.roles, self.market = core.possible_agents, core.roles, core.market
        self.agents, self.horizon = list(core.possible_agents), core.horizon
        self._rng: np.random.Generator | WorldStreams | None = None

    def role_of(self, agent: str):
        """The role object (spaces, observation, action decoding) an agent plays."""
        return self.roles[agent]

    def observation_space(self, agent: str):
        """One market's observation space of ``agent`` (the arrays add the leading market axis)."""
        return self.roles[agent].observation_space

    def action_space(self, agent: str):
        """One market's action space of ``agent`` (the arrays add the leading market axis)."""
        return self.roles[agent].action_space

    def reset(self, seed: int | Sequence[int] | None = None, options: dict | None = None):
        """``seed``: an int (one generator for every market), N ints (one per market) or None (go on
        with the generator already drawn from, a fresh one the first time)."""
        if seed is not None or self._rng is None:
            self._rng = market_generator(seed, self.num_markets)
        return self.core.reset(self._rng), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        obs, rewards, infos = self.core.step(actions)
        n, done = self.num_markets, self.core.done
        truncations = {a: np.full(n, done) for a in self.agents}
        terminations = {a: np.zeros(n, bool) for a in self.agents}
        if done:
            assert self._rng is not None
            for a in self.agents:
                infos[a] |= {"final_obs": obs[a], "_final_obs": np.ones(n, bool)}
            obs = self.core.reset(self._rng)
        return obs, rewards, terminations, truncations, infos

    def close(self) -> None:
        self.core.close()


def vector_env(num_markets: int = 64, backend: str = "numpy", **kwargs: Any) -> ParallelVectorEnv:
    """``num_markets`` markets stepped together (numpy or torch); the other arguments are ``parallel_env``'s."""
    return ParallelVectorEnv(num_markets, backend, **kwargs)


@dataclass
class LeagueConfig:
    """env.league: the opponents of single-role training (env.train_role) drawn from earlier snapshots.

    At every episode reset of the training markets, each agent outside the learning role whose role has
    snapshots in ``pool`` (and which ``env.others`` does not name) plays one snapshot of its role, drawn
    by ``sampling`` (agents.league). An empty pool: every other agent plays env.others or its default."""

    # model.zip checkpoints, or run directories holding model.zip (one role) or policies/<role>/model.zip
    pool: List[str] = field(default_factory=list)
    # latest: the newest model.zip (file modification time); uniform: any of the role's, drawn from the
    # run's seeded generator; best: the highest pnl_usd its run's evaluation report (eval/) records
    sampling: str = "latest"


@dataclass
class DefiMarketConfig(LendingConfig):
    """env=defi_market: who is in the block, in what order, and which role learns."""

    train_role: str = "arbitrageur"  # the role whose agents learn one shared policy
    train_roles: List[str] = field(default_factory=list)  # several roles learning at once (agents.co_training)
    n_lps: int = ranged(
        1, NON_NEGATIVE
    )  # LP agents, each funded with agent_usd (0: none, the pool is the scripted LPs')
    n_arbitrageurs: int = ranged(2, NON_NEGATIVE)
    n_liquidators: int = ranged(1, NON_NEGATIVE)
    n_borrowers: int = ranged(0, NON_NEGATIVE)  # 0 or 1
    n_traders: int = ranged(0, NON_NEGATIVE)
    n_searchers: int = ranged(
        0, NON_NEGATIVE
    )  # 0 or 1: a sandwich searcher agent (needs sandwich_usd > 0 and slippage_bps)
    n_jit_providers: int = ranged(0, NON_NEGATIVE)  # 0 or 1: a just-in-time LP agent (needs jit_usd > 0)
    order: str = "random"  # or priority
    # agent -> the priority fee (gwei) it bids on its gas, on top of gas_price_gwei: it orders the block under
    # order=priority and every agent pays it (the searcher on its legs, the JIT provider on its round trips)
    priority_fees_gwei: Dict[str, float] = field(default_factory=dict)
    flow_priority_fee_gwei: float = ranged(
        1.0, NON_NEGATIVE
    )  # the priority fee each uninformed swap bids and pays on its gas
    others: Dict[str, str] = field(
        default_factory=dict
    )  # agent -> baseline:<name> or a model.zip (default: a baseline)
    agent_usd: float = ranged(100_000.0, POSITIVE)  # each LP's and the borrower's starting capital
    compete: float = ranged(0.0, UNIT)  # the scripted arbitrageur's chance to trade after the agents
    half_widths: List[int] = ranged(DEFAULT_HALF_WIDTHS, POSITIVE)  # the LPs' widths
    reward: str = "pnl"  # the LP's reward when it learns: pnl or fees_minus_lvr
    league: LeagueConfig = field(default_factory=LeagueConfig)  # opponents drawn from earlier snapshots


def _kwargs(e: DefiMarketConfig) -> dict:
    return dict(
        n_lps=e.n_lps,
        n_arbitrageurs=e.n_arbitrageurs,
        n_liquidators=e.n_liquidators,
        n_borrowers=e.n_borrowers,
        n_traders=e.n_traders,
        n_searchers=e.n_searchers,
        n_jit_providers=e.n_jit_providers,
        fee_pips=e.fee_pips,
        agent_usd=e.agent_usd,
        order=e.order,
        priority_fees_gwei=dict(e.priority_fees_gwei),
        compete=e.compete,
        half_widths=tuple(e.half_widths),
        lp_reward=e.reward,
        world=e.world() | {"flow_priority_fee_gwei": e.flow_priority_fee_gwei},
        lending=dict(e.lending),
    )


SPEC = EnvSpec(
    world=WORLD,
    id="defi_market_v0",
    name="defi_market",
    role=None,
    entry_point="envs.defi_market_v0:parallel_env",
    vector_entry_point=None,
    config=DefiMarketConfig,
    kwargs=_kwargs,
)
