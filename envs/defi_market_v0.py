"""``defi_market_v0``: a PettingZoo ParallelEnv where liquidity providers, arbitrageurs,
liquidators, a borrower and traders act in one market: a Uniswap V3 USDC/WETH pool and an Aave V3
market whose scripted borrowers keep target LTVs. Every agent is learnable.

| | |
|---|---|
| Agents | ``liquidity_provider_{i}`` (``n_lps``), ``arbitrageur_{i}`` (``n_arbitrageurs``), ``liquidator_{i}`` (``n_liquidators``), ``borrower_0`` (``n_borrowers``: 0 or 1), ``trader_{i}`` (``n_traders``) |
| Action spaces | LP: ``Discrete(1 + len(half_widths))`` (0 holds, i re-centres); arbitrageur: ``Discrete(5)`` (share of the trade to the band's edge); liquidator: ``Discrete(5)`` (0 waits, i liquidates the account in slot i); borrower: ``Discrete(6)`` (0 holds, i moves to a target LTV); trader: ``Discrete(5)`` (0 waits, buy or sell $5k or $50k of WETH) |
| Observation spaces | LP: ``Box(9,)`` (envs.roles.liquidity_provider); arbitrageur: ``Box(5,)`` (envs.roles.arbitrageur); liquidator: ``Box(20,)`` (envs.roles.liquidator); borrower: ``Box(8,)`` (envs.roles.borrower); trader: ``Box(5,)`` (envs.roles.trader) |
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
net of gas, the borrower by its change in equity, each trader by its book's mark-to-market PnL. Episodes truncate after ``horizon``
steps; nothing terminates. Backends: numpy and torch (the simulator), evm and anvil (the real
contracts), one market per env.

Version History
* v0: initial version.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from envs.drivers import episode_driver
from envs.roles.arbitrageur import Arbitrageur
from envs.roles.borrower import Borrower
from envs.roles.liquidator import Liquidator
from envs.roles.liquidity_provider import DEFAULT_HALF_WIDTHS, LiquidityProvider
from envs.roles.trader import Trader
from envs.spec import EnvSpec, LendingConfig
from envs.uniswap_v3_lp import make_market
from envs.worlds.lending import AGENT_ACCOUNT, COMPETITOR, LendingParams
from envs.worlds.sim import WETH_UNIT, V3WorldParams

LP_ROLE = "liquidity_provider"
LP = f"{LP_ROLE}_0"  # the first LP agent
ARBITRAGEUR, LIQUIDATOR, BORROWER, TRADER = "arbitrageur", "liquidator", "borrower", "trader"


def agent_role(agent: str) -> tuple[str, int]:
    """``"liquidator_1"`` -> ("liquidator", 1): an agent's role and its index within the role."""
    role, index = agent.rsplit("_", 1)
    return role, int(index)


def env(**kwargs):
    """The AEC form, wrapped as PettingZoo wraps its own envs."""
    return wrappers.OrderEnforcingWrapper(parallel_to_aec(parallel_env(**kwargs)))


def raw_env(**kwargs):
    return parallel_to_aec(parallel_env(**kwargs))


class parallel_env(ParallelEnv):  # noqa: N801  (PettingZoo's convention)
    metadata = {"name": "defi_market_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, n_arbitrageurs: int = 2, n_liquidators: int = 1, n_borrowers: int = 0, n_traders: int = 0,
                 n_lps: int = 1, backend: str = "numpy", driver: str = "gbm",
                 driver_kwargs: dict | None = None, fee_pips: int = 500, horizon: int = 720, agent_usd: float = 100_000.0,
                 order: str = "random", priority_fees_gwei: dict[str, float] | None = None, compete: float = 0.0,
                 scripted_liquidator: bool = True, half_widths: tuple[int, ...] = DEFAULT_HALF_WIDTHS,
                 lp_reward: str = "pnl", gas_price_gwei: float = 10.0, world: dict | None = None,
                 lending: dict | None = None, device: str | None = None, fork_url: str | None = None,
                 fork_block: int | None = None, addresses: str | None = None):
        if order not in ("random", "priority"):
            raise ValueError(f"order must be 'random' or 'priority', got {order!r}")
        if min(n_arbitrageurs, n_liquidators, n_traders) < 0 or horizon < 1 or not 0 <= compete <= 1:
            raise ValueError("n_arbitrageurs, n_liquidators and n_traders must be >= 0, horizon >= 1, compete in [0, 1]")
        if n_borrowers not in (0, 1):
            raise ValueError(f"n_borrowers must be 0 or 1 (the market has one agent Aave account), got {n_borrowers}")
        if n_lps < 1:
            raise ValueError(f"n_lps must be at least 1 (the pool's LP agents), got {n_lps}")
        self.possible_agents = ([f"{LP_ROLE}_{i}" for i in range(n_lps)] + [f"{ARBITRAGEUR}_{i}" for i in range(n_arbitrageurs)]
                                + [f"{LIQUIDATOR}_{i}" for i in range(n_liquidators)]
                                + [f"{BORROWER}_{i}" for i in range(n_borrowers)]
                                + [f"{TRADER}_{i}" for i in range(n_traders)])
        fees = dict(priority_fees_gwei or {})
        unknown = sorted(set(fees) - set(self.possible_agents))
        if unknown or any(f < 0 for f in fees.values()):
            raise ValueError(f"priority_fees_gwei must map agents of {self.possible_agents} to fees >= 0; "
                             f"unknown agents: {unknown}")
        self.priority_fees = {a: float(fees.get(a, 0.0)) for a in self.possible_agents}
        roles = {LP_ROLE: lambda: LiquidityProvider(tuple(half_widths), reward=lp_reward, gas_price_gwei=gas_price_gwei),
                 ARBITRAGEUR: lambda: Arbitrageur(gas_price_gwei=gas_price_gwei),
                 LIQUIDATOR: lambda: Liquidator(gas_price_gwei=gas_price_gwei),
                 BORROWER: lambda: Borrower(gas_price_gwei=gas_price_gwei),
                 TRADER: lambda: Trader(gas_price_gwei=gas_price_gwei)}
        #: one role object per agent: each keeps its own volatility estimate, book and value
        self.roles = {a: roles[agent_role(a)[0]]() for a in self.possible_agents}
        self.gas_price_gwei = gas_price_gwei
        kwargs = dict(driver_kwargs or ({"dt": 60.0, "sigma": 0.8} if driver == "gbm" else {}))
        self.driver = episode_driver(driver, kwargs, horizon + 1)
        self.market = make_market(backend, 1, self.driver,
                                  V3WorldParams(fee_pips=fee_pips, lps=n_lps, **(world or {})), device, fork_url,
                                  LendingParams(**(lending or {})), fork_block=fork_block, addresses=addresses)
        self.horizon, self.agent_usd, self.order, self.compete = horizon, agent_usd, order, compete
        self.scripted_liquidator = scripted_liquidator

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
        self.rng = np.random.default_rng(seed)
        self.market.reset(self.rng, self.agent_usd)
        if f"{BORROWER}_0" in self.possible_agents:  # the borrower agent starts with agent_usd of WETH supplied
            self.market.fund_borrower(np.floor(self.agent_usd / self.market.reference_price() * WETH_UNIT))
            self.market.supply(AGENT_ACCOUNT, np.floor(self.market.borrower_wallet()[1] * WETH_UNIT), np.ones(1, bool))
        for agent in self.possible_agents:
            self._select(agent)
            self.roles[agent].reset(self.market)
        self.market.move_reference()  # the first block's price gap
        self.agents, self.t = list(self.possible_agents), 0
        return self._observe(), {a: {} for a in self.agents}

    def _select(self, agent: str) -> None:
        """Point the market's LP reads and actions at ``agent``'s position if it is an LP."""
        role, index = agent_role(agent)
        if role == LP_ROLE:
            self.market.select_lp(index)

    def _observe(self) -> dict[str, np.ndarray]:
        """Every agent's observation after the block (each role reads the market once)."""
        obs = {}
        for agent in self.agents:
            self._select(agent)
            obs[agent] = self.roles[agent].observe(self.market, self.t / self.horizon)[0]
        return obs

    def _block_order(self) -> list[str]:
        if self.order == "priority":  # highest fee first; equal fees keep possible_agents order
            return sorted(self.agents, key=lambda a: (-self.priority_fees[a], self.possible_agents.index(a)))
        sequence = list(self.agents)
        self.rng.shuffle(sequence)
        return sequence

    def _with_priority_fee(self, agent: str, gas_usd: np.ndarray) -> np.ndarray:
        """Gas at the base price plus the agent's priority fee on the same gas."""
        return gas_usd * (1 + self.priority_fees[agent] / self.gas_price_gwei) if self.gas_price_gwei else gas_usd

    def step(self, actions):
        """One block: the agents' transactions in block order, the scripted market after them, the
        reference moves; then every agent observes and is scored (``envs.roles.protocol``)."""
        missing = set(self.agents) - set(actions)
        if missing:
            raise ValueError(f"no action for {sorted(missing)}: a parallel env needs one for every live agent")
        sequence = self._block_order()
        receipts = {}
        for position, agent in enumerate(sequence):
            self._select(agent)
            pool_before = self.market.pool_price()
            receipt = self.roles[agent].act(self.market, np.asarray(actions[agent])[None])
            receipt = receipt.with_gas(self._with_priority_fee(agent, receipt.gas_usd))
            receipt.info |= {"pool_move_pct": 100 * np.log(self.market.pool_price() / pool_before),
                             "position_in_block": np.full(1, float(position))}
            receipts[agent] = receipt
        self.market.arbitrage(self.rng.random(1) < self.compete)  # the scripted competitors, after the agents
        if self.scripted_liquidator:
            self.market.liquidate_unhealthy(COMPETITOR)
        self.market.noise()
        self.market.borrowers_act()
        self.market.move_reference()
        self.t += 1
        observations = self._observe()
        rewards, infos = {}, {}
        for agent in self.agents:
            self._select(agent)
            reward, info = self.roles[agent].score(self.market, receipts[agent])
            rewards[agent] = float(reward[0])
            infos[agent] = {k: float(v[0]) for k, v in (receipts[agent].info | info).items()}
        done = self.t >= self.horizon
        truncations = {a: done for a in self.agents}
        terminations = {a: False for a in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def close(self):
        if hasattr(self.market, "close"):
            self.market.close()


@dataclass
class DefiMarketConfig(LendingConfig):
    """env=defi_market: who is in the block, in what order, and which role learns."""

    train_role: str = "arbitrageur"  # the role whose agents learn one shared policy
    n_lps: int = 1
    n_arbitrageurs: int = 2
    n_liquidators: int = 1
    n_borrowers: int = 0  # 0 or 1
    n_traders: int = 0
    order: str = "random"  # or priority
    others: Dict[str, str] = field(default_factory=dict)  # agent -> baseline:<name> or a model.zip (default: a baseline)
    agent_usd: float = 100_000.0  # each LP's and the borrower's starting capital
    compete: float = 0.0  # the scripted arbitrageur's chance to trade after the agents
    half_widths: List[int] = field(default_factory=lambda: list(DEFAULT_HALF_WIDTHS))  # the LPs' discrete widths
    reward: str = "pnl"  # the LP's reward when it learns: pnl or fees_minus_lvr


def _kwargs(e: DefiMarketConfig) -> dict:
    return dict(n_lps=e.n_lps, n_arbitrageurs=e.n_arbitrageurs, n_liquidators=e.n_liquidators,
                n_borrowers=e.n_borrowers, n_traders=e.n_traders, fee_pips=e.fee_pips, agent_usd=e.agent_usd,
                order=e.order, compete=e.compete, half_widths=tuple(e.half_widths), lp_reward=e.reward,
                world=e.world(), lending=dict(e.lending))


SPEC = EnvSpec(id="defi_market_v0", name="defi_market", role=None, entry_point="envs.defi_market_v0:parallel_env",
               vector_entry_point=None, config=DefiMarketConfig, kwargs=_kwargs, evaluation="market")
