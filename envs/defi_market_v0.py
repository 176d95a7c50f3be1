"""``defi_market_v0``: a PettingZoo ParallelEnv where a liquidity provider and arbitrageurs act in one
Uniswap V3 USDC/WETH market, every agent learnable.

| | |
|---|---|
| Agents | ``liquidity_provider_0``, ``arbitrageur_0`` ... ``arbitrageur_{n-1}`` |
| Action spaces | LP: ``Discrete(1 + len(half_widths))`` (0 holds, i re-centres); arbitrageur: ``Discrete(5)`` (share of the trade to the band's edge) |
| Observation spaces | LP: ``Box(9,)`` (envs.roles.liquidity_provider); arbitrageur: ``Box(5,)`` (envs.roles.arbitrageur) |
| Import | ``from envs import defi_market_v0`` |

Each step is one block: the agents' transactions land in the block in ``order`` ("random": shuffled
every block by the env's generator; "priority": the order of ``possible_agents``), then a scripted
competing arbitrageur (with probability ``compete``) and the noise traders, then the reference
price moves. The LP is rewarded by its role (PnL net of gas by default), each arbitrageur by its
profit net of gas. The arbitrageurs' swaps pay the LP's fees. Episodes truncate after ``horizon``
steps; nothing terminates. Backends: numpy and torch (the simulator), evm and anvil (the real
contracts), one market per env.

Version History
* v0: initial version: one LP and arbitrageurs (borrowers and liquidators are not in this version).
"""
from __future__ import annotations

import functools

import numpy as np
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from envs.backends.sim import V3WorldParams
from envs.drivers import episode_driver
from envs.roles.arbitrageur import Arbitrageur
from envs.roles.liquidity_provider import DEFAULT_HALF_WIDTHS, LiquidityProvider, MarketView
from envs.uniswap_v3_lp import make_market

LP = "liquidity_provider_0"


def env(**kwargs):
    """The AEC form, wrapped as PettingZoo wraps its own envs."""
    return wrappers.OrderEnforcingWrapper(parallel_to_aec(parallel_env(**kwargs)))


def raw_env(**kwargs):
    return parallel_to_aec(parallel_env(**kwargs))


class parallel_env(ParallelEnv):  # noqa: N801  (PettingZoo's convention)
    metadata = {"name": "defi_market_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, n_arbitrageurs: int = 2, backend: str = "numpy", driver: str = "gbm",
                 driver_kwargs: dict | None = None, fee_pips: int = 500, horizon: int = 720, agent_usd: float = 100_000.0,
                 order: str = "random", compete: float = 0.0, half_widths: tuple[int, ...] = DEFAULT_HALF_WIDTHS,
                 lp_reward: str = "pnl", gas_price_gwei: float = 10.0, world: dict | None = None,
                 device: str | None = None, fork_url: str | None = None):
        if order not in ("random", "priority"):
            raise ValueError(f"order must be 'random' or 'priority', got {order!r}")
        if n_arbitrageurs < 0 or horizon < 1 or not 0 <= compete <= 1:
            raise ValueError("n_arbitrageurs must be >= 0, horizon >= 1 and compete in [0, 1]")
        self.possible_agents = [LP] + [f"arbitrageur_{i}" for i in range(n_arbitrageurs)]
        self.lp = LiquidityProvider(tuple(half_widths), reward=lp_reward, gas_price_gwei=gas_price_gwei)
        self.arb = Arbitrageur(gas_price_gwei=gas_price_gwei)
        kwargs = dict(driver_kwargs or ({"dt": 60.0, "sigma": 0.8} if driver == "gbm" else {}))
        self.driver = episode_driver(driver, kwargs, horizon + 1)
        self.market = make_market(backend, 1, self.driver, V3WorldParams(fee_pips=fee_pips, **(world or {})),
                                  device, fork_url)
        self.horizon, self.agent_usd, self.order, self.compete = horizon, agent_usd, order, compete

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return self.lp.observation_space if agent == LP else self.arb.observation_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return self.lp.action_space if agent == LP else self.arb.action_space

    def reset(self, seed=None, options=None):
        self.rng = np.random.default_rng(seed)
        self.market.reset(self.rng, self.agent_usd)
        self.view = self.lp.reset(self.market)
        self.arb.reset(self.market)
        self.market.move_reference()  # the first block's price gap
        self.view = MarketView.read(self.market)
        self.lp.observe_step(self.view)
        self.arb.observe_step(self.market)
        self.agents, self.t = list(self.possible_agents), 0
        return self._observations(), {a: {} for a in self.agents}

    def _observations(self):
        obs = {LP: self.lp.observation(self.view, self.market.dt, self.t / self.horizon)[0]}
        arb_obs = self.arb.observation(self.market)[0]
        obs.update({a: arb_obs.copy() for a in self.agents if a != LP})
        return obs

    def step(self, actions):
        missing = set(self.agents) - set(actions)
        if missing:
            raise ValueError(f"no action for {sorted(missing)}: a parallel env needs one for every live agent")
        sequence = list(self.agents)
        if self.order == "random":
            self.rng.shuffle(sequence)
        rewards, infos = {}, {a: {} for a in self.agents}
        gas, before = np.zeros(1), self.view
        for agent in sequence:  # the agents' transactions, in block order
            if agent == LP:
                gas = self.lp.act(self.market, np.asarray(actions[agent])[None])
                before = MarketView.read(self.market)
            else:
                fraction = self.arb.decode(np.asarray(actions[agent])[None], 1)
                profit, traded = self.market.agent_arbitrage(fraction)
                cost = np.where(fraction > 0, self.arb.swap_gas_usd(self.market), 0.0)
                rewards[agent] = float((profit - cost)[0])
                infos[agent] = {"profit_usd": float(profit[0]), "gas_usd": float(cost[0]), "traded": bool(traded[0]),
                                "position_in_block": sequence.index(agent)}
        self.market.arbitrage(self.rng.random(1) < self.compete)  # the scripted competitor, after the agents
        self.market.noise()
        self.market.move_reference()
        self.view = MarketView.read(self.market)
        self.lp.observe_step(self.view)
        self.arb.observe_step(self.market)
        reward, info = self.lp.score(before, self.view, gas)
        rewards[LP] = float(reward[0])
        infos[LP] = {k: float(v[0]) for k, v in info.items()} | {"position_in_block": sequence.index(LP)}
        self.t += 1
        done = self.t >= self.horizon
        observations = self._observations()
        truncations = {a: done for a in self.agents}
        terminations = {a: False for a in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def close(self):
        if hasattr(self.market, "close"):
            self.market.close()
