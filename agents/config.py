"""The one config schema for train.py and evaluate.py (Hydra structured configs): every key has a
type and a default, so a typo or a wrong type fails at start, naming the key."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

from envs.roles.borrower import DEFAULT_TARGETS
from envs.roles.liquidity_provider import DEFAULT_HALF_WIDTHS

LP_ENV, ARBITRAGE_ENV = "defigym/UniswapV3LP-v0", "defigym/CexDexArbitrage-v0"
LEVERAGE_ENV, LIQUIDATOR_ENV = "defigym/AaveLeverage-v0", "defigym/AaveLiquidator-v0"
V2_LP_ENV = "defigym/UniswapV2LP-v0"
MARKET_ENV = "defi_market_v0"  # the PettingZoo market: one role learns, the others play given policies


@dataclass
class EnvConfig:
    id: str = LP_ENV  # env=uniswap_v3_lp, uniswap_v2_lp, cex_dex_arbitrage, aave_leverage, aave_liquidator, defi_market
    fee_pips: int = 500  # pool fee tier: 100, 500, 3000 or 10000
    horizon: int = 720  # steps per episode
    agent_usd: float = 100_000.0  # the agent's starting capital, half USDC half WETH
    initial_half_width: Optional[int] = None  # start with a position this wide (ticks), or none
    half_widths: List[int] = field(default_factory=lambda: list(DEFAULT_HALF_WIDTHS))  # discrete action widths
    action_type: str = "discrete"  # or continuous
    reward: str = "fees_minus_lvr"  # fee - LVR - gas (Xu & Brini 2025), or pnl
    gas_price_gwei: float = 10.0
    gas_usd_per_rebalance: Optional[float] = None  # a fixed cost per reposition (e.g. 5.0) instead of measured gas
    allow_close: bool = False  # UniswapV3LP: one more discrete action that withdraws the position
    noise_traders: int = 2  # noise swaps per step
    noise_trade_usd: float = 5_000.0  # median noise swap
    pool_value_usd: float = 20_000_000.0  # background liquidity in the pool
    compete: float = 0.3  # CexDexArbitrage, AaveLiquidator: probability a competitor lands first
    fractions: List[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])  # CexDexArbitrage: trade shares
    targets: List[float] = field(default_factory=lambda: list(DEFAULT_TARGETS))  # AaveLeverage: target LTVs
    shares: List[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0])  # UniswapV2LP: pair shares
    slots: int = 4  # AaveLiquidator: unhealthy accounts shown
    lending: Dict[str, Any] = field(default_factory=dict)  # Aave envs: LendingParams overrides (borrowers, ...)
    # defi_market_v0: the role whose agents learn one shared policy, who else is in the block, in what order
    train_role: str = "arbitrageur"  # liquidity_provider, arbitrageur, liquidator, borrower or trader
    n_lps: int = 1
    n_arbitrageurs: int = 2
    n_liquidators: int = 1
    n_borrowers: int = 0  # 0 or 1
    n_traders: int = 0
    order: str = "random"  # or priority
    others: Dict[str, str] = field(default_factory=dict)  # agent -> baseline:<name> or a model.zip (default: a baseline)
    #: background ranges as [half-width as a fraction of price (null: full range), share of pool_value_usd]
    liquidity_profile: List[List[Optional[float]]] = field(default_factory=lambda: [
        [0.005, 0.30], [0.02, 0.25], [0.10, 0.20], [0.30, 0.15], [None, 0.10]])


@dataclass
class DriverConfig:
    name: str = "historical"  # gbm, jump_diffusion, regime_switching, historical
    dt: float = 3600.0  # seconds per step
    params: Dict[str, Any] = field(default_factory=dict)  # the driver's own arguments (sigma, path, ...)


@dataclass
class BackendConfig:
    name: str = "numpy"  # numpy, torch (batched simulator); evm, anvil (real contracts, one world)
    fork_url: Optional[str] = None  # evm/anvil: fork this RPC URL instead of starting a fresh chain


@dataclass
class AgentConfig:
    algo: str = "ppo"  # ppo, a2c, dqn, sac, td3 (stable-baselines3)
    policy: str = "MlpPolicy"
    params: Dict[str, Any] = field(default_factory=dict)  # the algorithm's own arguments


@dataclass
class TrainConfig:
    total_timesteps: int = 300_000
    num_envs: int = 64  # worlds stepped together
    window: List[float] = field(default_factory=lambda: [0.0, 0.7])  # of a historical path: training
    eval_window: List[float] = field(default_factory=lambda: [0.7, 0.85])  # validation
    eval_freq: int = 50_000  # timesteps between validations (0: none)
    eval_episodes: int = 64
    normalize: bool = True  # observation and reward normalization (VecNormalize), saved with the model
    resume: Optional[str] = None  # a model.zip to continue from
    progress_bar: bool = True
    evaluate_after: bool = True  # run evaluate (eval.*) on the test window when training ends


@dataclass
class EvalConfig:
    backend: str = "evm"  # where evaluate runs: numpy, torch, evm, anvil
    policies: List[str] = field(default_factory=lambda: [
        "baseline:hodl", "baseline:passive_lp", "baseline:recentering_lp", "baseline:tau_reset_lp"])
    episodes: int = 4
    window: List[float] = field(default_factory=lambda: [0.85, 1.0])  # test
    seed: int = 1_000
    plots: bool = True


@dataclass
class Config:
    env: EnvConfig = field(default_factory=EnvConfig)
    driver: DriverConfig = field(default_factory=DriverConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    device: str = "auto"  # the policy's torch device: auto puts it on cuda when present
    policy: Optional[str] = None  # evaluate.py: a saved model.zip (evaluated beside eval.policies)


@dataclass
class DeployConfig:
    live: Any = None  # agents.live.adapter.LiveConfig


def register() -> None:
    from agents.live.adapter import LiveConfig

    store = ConfigStore.instance()
    store.store(name="schema", node=Config)
    store.store(name="deploy_schema", node=DeployConfig(live=LiveConfig()))


def env_kwargs(cfg, window: List[float] | None = None) -> dict:
    """The env's keyword arguments from the config (historical driver restricted to ``window``)."""
    e, d = cfg.env, cfg.driver
    params = dict(d.params)
    params["dt"] = d.dt
    if d.name == "historical" and window is not None:
        params["window"] = tuple(window)
    world = {"noise_traders": e.noise_traders, "noise_trade_usd": e.noise_trade_usd, "pool_value_usd": e.pool_value_usd,
             "liquidity_profile": tuple((w, share) for w, share in e.liquidity_profile)}
    common = dict(driver=d.name, driver_kwargs=params, horizon=e.horizon, gas_price_gwei=e.gas_price_gwei)
    if e.id == V2_LP_ENV:
        return common | dict(agent_usd=e.agent_usd, shares=tuple(e.shares), action_type=e.action_type,
                             world={"pool_value_usd": e.pool_value_usd, "noise_traders": e.noise_traders,
                                    "noise_trade_usd": e.noise_trade_usd})
    if e.id == MARKET_ENV:
        return common | dict(n_lps=e.n_lps, n_arbitrageurs=e.n_arbitrageurs, n_liquidators=e.n_liquidators,
                             n_borrowers=e.n_borrowers, n_traders=e.n_traders, fee_pips=e.fee_pips,
                             agent_usd=e.agent_usd, order=e.order, compete=e.compete, half_widths=tuple(e.half_widths),
                             lp_reward=e.reward, world=world, lending=dict(e.lending))
    if e.id in (LEVERAGE_ENV, LIQUIDATOR_ENV):
        common |= dict(world=world | {"fee_pips": e.fee_pips}, lending=dict(e.lending))
        if e.id == LIQUIDATOR_ENV:
            return common | dict(compete=e.compete, slots=e.slots)
        return common | dict(agent_usd=e.agent_usd, targets=tuple(e.targets), action_type=e.action_type)
    common |= dict(fee_pips=e.fee_pips, world=world, action_type=e.action_type)
    if e.id == ARBITRAGE_ENV:
        return common | dict(compete=e.compete, fractions=tuple(e.fractions))
    return common | dict(agent_usd=e.agent_usd, initial_half_width=e.initial_half_width,
                         half_widths=tuple(e.half_widths), reward=e.reward,
                         gas_usd_per_rebalance=e.gas_usd_per_rebalance, allow_close=e.allow_close)


def env_classes(env_id: str):
    """(single env class, vector env class) of an env id."""
    from envs.aave_leverage import AaveLeverageEnv, AaveLeverageVectorEnv
    from envs.aave_liquidator import AaveLiquidatorEnv, AaveLiquidatorVectorEnv
    from envs.cex_dex_arbitrage import CexDexArbitrageEnv, CexDexArbitrageVectorEnv
    from envs.uniswap_v2_lp import UniswapV2LPEnv, UniswapV2LPVectorEnv
    from envs.uniswap_v3_lp import UniswapV3LPEnv, UniswapV3LPVectorEnv

    if env_id == MARKET_ENV:  # one market per env; train.py makes a role of it a VecEnv (RoleVecEnv)
        from envs.defi_market_v0 import parallel_env

        return parallel_env, None
    classes = {LP_ENV: (UniswapV3LPEnv, UniswapV3LPVectorEnv), ARBITRAGE_ENV: (CexDexArbitrageEnv, CexDexArbitrageVectorEnv),
               LEVERAGE_ENV: (AaveLeverageEnv, AaveLeverageVectorEnv),
               LIQUIDATOR_ENV: (AaveLiquidatorEnv, AaveLiquidatorVectorEnv),
               V2_LP_ENV: (UniswapV2LPEnv, UniswapV2LPVectorEnv)}
    if env_id not in classes:
        raise ValueError(f"env.id={env_id!r}: train.py trains {sorted(classes) + [MARKET_ENV]}")
    return classes[env_id]


def check(cfg) -> None:
    """Build what the config describes once, so a bad value fails now with its key named, not mid-run."""
    single, _ = env_classes(cfg.env.id)
    for key, window in (("train.window", cfg.train.window), ("train.eval_window", cfg.train.eval_window),
                        ("eval.window", cfg.eval.window)):
        if len(window) != 2 or not 0 <= window[0] < window[1] <= 1:
            raise ValueError(f"{key}={list(window)} must be [start, end] fractions with 0 <= start < end <= 1")
    try:
        env = single(backend="numpy", **env_kwargs(cfg, cfg.train.window))
        if cfg.env.id == MARKET_ENV:
            from agents.multi_agent import other_policies

            other_policies(env, cfg.env.train_role, dict(cfg.env.others))
        env.close()
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise ValueError(f"bad env/driver config (env.*, driver.*): {err}") from err
