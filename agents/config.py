"""The one config schema for train.py and evaluate.py (Hydra structured configs): every key has a
type and a default, so a typo or a wrong type fails at start, naming the key."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, cast

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from envs import SPECS, spec_of
from envs.spec import (
    ANY,
    ATTACH,
    INIT_FROM,
    NON_NEGATIVE,
    POSITIVE,
    REPLAY_BLOCKS,
    UNIT_OPEN_LOW,
    EnvSpec,
    Rule,
    ranged,
    rules,
)
from envs.units import FEE_TIERS


@dataclass
class DriverConfig:
    name: str = "historical"  # gbm, jump_diffusion, regime_switching, historical
    dt: float = 3600.0  # seconds per step
    params: Dict[str, Any] = field(default_factory=dict)  # the driver's own arguments (sigma, mu, ...)
    # driver=historical: the price file and how to read it (null: the shipped ETH/USD hourly path)
    path: Optional[str] = None  # a CSV of timestamps and prices
    price_column: Optional[str] = None  # default USD_price
    timestamp_column: Optional[str] = None  # default timestamp (seconds, ms or ISO dates)
    start: Optional[str] = None  # every episode starts here: a step index or a date (2022-06-01T00:00), else random
    fill: Optional[str] = None  # hold (default) or bridge: a Brownian bridge between observations, for dt below theirs
    missing: Optional[str] = None  # rows without a price: skip (default, reported) or error


@dataclass
class BackendConfig:
    name: str = "numpy"  # numpy, torch (batched simulator); evm, anvil (real contracts, one world)
    fork_url: Optional[str] = None  # evm/anvil: fork this RPC URL instead of starting a fresh chain
    fork_block: Optional[int] = None  # evm/anvil: the block to fork (null: the node's head); archive RPC for old ones
    market: str = "deploy"  # evm/anvil: deploy (build a market of our own) or attach (use the fork's, e.g. mainnet's)
    addresses: Optional[str] = None  # market=attach: address book, "ethereum" or the path of an addresses.json
    init_from: Optional[str] = None  # numpy/torch: URL@block, start the simulated pools from that chain's pool
    replay_blocks: int = 0  # evm/anvil fork: each step first re-sends the chain's own next N blocks (after the agent)
    priority_fee_gwei: Optional[float] = None  # replay: the agent's tip; txs of the first block paying more go first


MARKET_MODES = ("deploy", "attach")


def envs_with(feature: str) -> list[str]:
    """The env ids whose spec supports a backend.* chain feature (attach, init_from, replay_blocks)."""
    return [spec.id for spec in SPECS.values() if feature in spec.chain_features]


def check_backend(b, env_id: str) -> None:
    """backend.* keys that must agree with each other; contacts nothing (the fork is checked when it starts)."""
    if b.market not in MARKET_MODES:
        raise ValueError(f"backend.market={b.market!r} must be one of {list(MARKET_MODES)}")
    if b.fork_block is not None and (isinstance(b.fork_block, bool) or b.fork_block < 0):
        raise ValueError(f"backend.fork_block={b.fork_block!r} must be a block number >= 0, or null for the head")
    if b.fork_block is not None and b.fork_url is None:
        raise ValueError(f"backend.fork_block={b.fork_block} needs backend.fork_url=<RPC URL> to fork")
    if b.market == "attach":
        if b.name not in ("evm", "anvil"):
            raise ValueError(
                f"backend.market=attach runs on a chain: set backend=evm or backend=anvil "
                f"(backend={b.name} simulates; to start it from a chain, use backend.init_from=URL@block)"
            )
        if b.fork_url is None:
            raise ValueError(
                "backend.market=attach needs backend.fork_url=<RPC URL>: the chain whose market to attach "
                "to (an archive RPC of Ethereum, or a served local mainnet)"
            )
        if b.addresses is None:
            raise ValueError(
                "backend.market=attach needs backend.addresses: ethereum, or the path of an "
                "addresses.json (a local mainnet's)"
            )
        if env_id not in envs_with(ATTACH):
            raise ValueError(
                f"backend.market=attach runs the envs {envs_with(ATTACH)}, not {env_id}; use backend.market=deploy"
            )
    elif b.addresses is not None and b.init_from is None:
        raise ValueError(
            f"backend.addresses={b.addresses!r} is read in attach mode or with backend.init_from only: "
            f"add backend.market=attach (or backend.init_from=URL@block)"
        )
    if b.replay_blocks:
        if isinstance(b.replay_blocks, bool) or b.replay_blocks < 0:
            raise ValueError(f"backend.replay_blocks={b.replay_blocks!r} must be a number of blocks >= 0")
        if b.name not in ("evm", "anvil") or b.fork_url is None or env_id not in envs_with(REPLAY_BLOCKS):
            raise ValueError(
                f"backend.replay_blocks={b.replay_blocks} replays a forked chain's blocks: it needs "
                f"backend=evm or anvil, backend.fork_url, and one of the envs {envs_with(REPLAY_BLOCKS)}"
            )
    if b.priority_fee_gwei is not None:
        if not b.replay_blocks:
            raise ValueError(
                f"backend.priority_fee_gwei={b.priority_fee_gwei} orders the agent among replayed "
                f"transactions: set backend.replay_blocks too"
            )
        check_number("backend.priority_fee_gwei", b.priority_fee_gwei, NON_NEGATIVE)
    if b.init_from is not None:
        if b.name not in ("numpy", "torch"):
            raise ValueError(
                f"backend.init_from starts the simulator from a chain: use it with backend=numpy or "
                f"torch, not {b.name} (a chain backend attaches with backend.market=attach)"
            )
        if env_id not in envs_with(INIT_FROM):
            raise ValueError(f"backend.init_from starts the envs {envs_with(INIT_FROM)} so far, not {env_id}")
        if not b.init_from.startswith(("http://", "https://")):
            raise ValueError(
                f"backend.init_from={b.init_from!r} must be URL@block, e.g. "
                f"https://eth-archive.example/KEY@21000000 (the block may be left out: the head)"
            )


def chain_kwargs(cfg) -> dict:
    """The env keyword arguments that place a chain backend: the fork and, in attach mode, the address book."""
    b = cfg.backend
    out = {"fork_url": b.fork_url}
    if b.fork_block is not None:
        out["fork_block"] = b.fork_block
    if b.market == "attach":
        out["addresses"] = b.addresses
    if b.get("replay_blocks"):
        out["replay_blocks"] = b.replay_blocks
        if b.get("priority_fee_gwei") is not None:
            out["priority_fee_gwei"] = b.priority_fee_gwei
    return out


@dataclass
class AgentConfig:
    algo: str = "ppo"  # ppo, a2c, dqn, sac, td3 (stable-baselines3)
    policy: str = "MlpPolicy"
    params: Dict[str, Any] = field(default_factory=dict)  # the algorithm's own arguments


@dataclass
class TrainConfig:
    total_timesteps: int = ranged(300_000, POSITIVE)
    num_envs: int = ranged(64, POSITIVE)  # worlds stepped together
    window: List[float] = field(default_factory=lambda: [0.0, 0.7])  # of a historical path: training
    eval_window: List[float] = field(default_factory=lambda: [0.7, 0.85])  # validation
    eval_freq: int = ranged(50_000, NON_NEGATIVE)  # timesteps between validations (0: none)
    eval_episodes: int = ranged(64, POSITIVE)
    normalize: bool = True  # observation and reward normalization (VecNormalize), saved with the model
    resume: Optional[str] = None  # a model.zip (or best_model.zip) to continue from, with its normalization
    allow_missing_normalization: bool = False  # resume: start fresh statistics if the checkpoint's are missing
    progress_bar: bool = True
    evaluate_after: bool = True  # run evaluate (eval.*) on the test window when training ends
    threads: int = ranged(
        1, POSITIVE
    )  # torch and BLAS threads of the training process (more rarely helps small MLPs on CPU)
    objective: Optional[str] = None  # what a search maximizes (hparams_search sets validation_reward)


@dataclass
class EvalConfig:
    backend: str = "evm"  # where evaluate runs: numpy, torch, evm, anvil
    policies: List[str] = field(
        default_factory=lambda: [
            "baseline:hodl",
            "baseline:passive_lp",
            "baseline:recentering_lp",
            "baseline:tau_reset_lp",
        ]
    )
    episodes: int = ranged(4, POSITIVE)
    window: List[float] = field(default_factory=lambda: [0.85, 1.0])  # test
    seed: int = 1_000
    plots: bool = True
    allow_missing_normalization: bool = False  # run a model whose vecnormalize.pkl is missing on raw observations


@dataclass
class TrainerConfig:
    """Who trains: ``sb3`` (stable-baselines3, agent.*) or ``rllib`` (Ray RLlib multi-agent PPO over the
    market's learning roles, env.train_roles; the fields below are RLlib's)."""

    name: str = "sb3"
    address: Optional[str] = None  # a running Ray cluster (e.g. auto, or ray://head:10001); none starts a local one
    num_env_runners: int = 0  # RLlib's sampling workers, one market each (0: sample in the driver)
    train_batch_size: int = 4000  # env steps per training iteration
    minibatch_size: int = 256
    num_epochs: int = 10
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2  # PPO's policy clip
    vf_clip_param: Optional[float] = None  # RLlib's clip of the squared value error; None: unclipped
    hidden: List[int] = field(default_factory=lambda: [64, 64])  # each role's MLP
    reward_scale: float = 0.01  # rewards in USD x this: what the value function learns


@dataclass
class Config:
    env: Any = None  # the env's own schema (envs.spec), set by configs/env/<name>.yaml's defaults
    driver: DriverConfig = field(default_factory=DriverConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
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
    for spec in SPECS.values():  # configs/env/<name>.yaml starts from its schema: defaults: [base_<name>, _self_]
        store.store(group="env", name=f"base_{spec.name}", node=spec.config)
    store.store(name="deploy_schema", node=DeployConfig(live=LiveConfig()))


TRAINERS = ("sb3", "rllib")
VALIDATION_REWARD = "validation_reward"  # train.objective: the run's best validation reward
HISTORICAL_KEYS = ("path", "price_column", "timestamp_column", "start", "fill", "missing")


def historical_options(d) -> dict:
    """driver.path, driver.start, ... as the historical driver's arguments (refused for the other drivers)."""
    given = {k: getattr(d, k) for k in HISTORICAL_KEYS if getattr(d, k) is not None}
    if given and d.name != "historical":
        raise ValueError(f"driver.{next(iter(given))} reads a price file: it needs driver=historical, not {d.name}")
    if "start" in given and str(given["start"]).lstrip("-").isdigit():
        given["start"] = int(given["start"])
    return given


def env_spec(cfg) -> EnvSpec:
    """The spec of the config's env, checking that ``env.*`` was read through that env's schema (so an
    unknown key failed, named, when Hydra composed it)."""
    spec = spec_of(cfg.env.id)
    typed = OmegaConf.get_type(cfg.env)
    if typed is not spec.config:
        raise ValueError(
            f"env.id={cfg.env.id!r}: its config must start from the env's schema, "
            f"`defaults: [base_{spec.name}, _self_]` (see configs/env/{spec.name}.yaml); it was read as "
            f"{getattr(typed, '__name__', typed)}"
        )
    unknown = [key for key in cfg.env if key not in spec.config.__dataclass_fields__]
    if unknown:
        raise ValueError(
            f"env.{unknown[0]} is not a key of {spec.name} (env.id={spec.id}); its keys are "
            f"{sorted(spec.config.__dataclass_fields__)}"
        )
    return spec


def env_kwargs(cfg, window: List[float] | None = None) -> dict:
    """The env's keyword arguments from the config (a historical driver, and a replay's recorded span,
    restricted to ``window``)."""
    e, d, b = cfg.env, cfg.driver, cfg.backend
    spec = env_spec(cfg)
    params = dict(d.params)
    params["dt"] = d.dt
    if d.name == "historical" and window is not None:
        params["window"] = tuple(window)
    params |= historical_options(d)
    kwargs = dict(driver=d.name, driver_kwargs=params, horizon=e.horizon, gas_price_gwei=e.gas_price_gwei)
    if INIT_FROM in spec.chain_features and b.get("init_from") is not None:
        kwargs |= dict(init_from=b.init_from, init_addresses=b.addresses or "ethereum")
    kwargs |= spec.kwargs(OmegaConf.to_object(e))
    if "world" in kwargs and e.get("recentering_lps") is None and (b.market == "attach" or "init_from" in kwargs):
        kwargs["world"] = {**kwargs["world"], "recentering_lps": ()}  # a fork's own LPs are the background
    if (
        e.get("flow") == "replay" and window is not None and "world" in kwargs
    ):  # a replay's days are split like a historical path
        kwargs["world"] = {**kwargs["world"], "replay_window": tuple(window)}
    return kwargs


def learning_role(cfg) -> str:
    """The role the config's policy plays: the env's, or ``env.train_role`` in the market."""
    return env_spec(cfg).role or cfg.env.train_role


def env_classes(env_id: str):
    """(single env class, vector env class or None) of an env id; the market's is its parallel_env."""
    return spec_of(env_id).classes()


def check_number(key: str, value: Any, rule: Rule, schema: Any = None) -> None:
    """Raise, naming ``key`` (and its default in ``schema``, else in the section's), unless ``value`` is a
    finite number that satisfies ``rule``."""
    test, text = rule
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not test(value):
        default = _default_of(key, schema)
        fix = f" (the default is {key}={default})" if default is not None else ""
        raise ValueError(f"{key}={value!r} must be a finite number {text}".rstrip() + fix)


def _default_of(key: str, schema: Any = None) -> Any:
    """The schema's default of a ``section.field`` key, or None where it has none or the key is nested."""
    section, _, name = key.partition(".")
    schema = schema or {"train": TrainConfig, "eval": EvalConfig, "driver": DriverConfig}.get(section)
    if schema is None or not name.isidentifier():
        return None
    value = getattr(schema(), name, None)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check_numbers(key: str, value: Any, rule: Rule) -> None:
    """Every number in a (nested) mapping or list of arguments, e.g. ``driver.params`` or ``env.lending``."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_numbers(f"{key}.{k}", v, rule)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_numbers(f"{key}[{i}]", v, rule)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        check_number(key, value, rule)


def check_ranges(section: str, values: Any, schema: type) -> None:
    """Every ranged field of ``schema`` (``envs.spec.ranged``: the schema states its own ranges) in ``values``: a
    number, each entry of a list, or nothing where an optional field is null."""
    from omegaconf import ListConfig

    for name, rule in rules(schema).items():
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, (list, tuple, ListConfig)):
            check_list(f"{section}.{name}", value, rule)
        else:
            check_number(f"{section}.{name}", value, rule, schema)


def check_list(key: str, values: Any, rule: Rule) -> None:
    """A non-empty list whose every entry satisfies ``rule``."""
    if len(values) == 0:
        raise ValueError(f"{key}=[] must list at least one value")
    for i, v in enumerate(values):
        check_number(f"{key}[{i}]", v, rule)


def check_liquidity_profile(profile: Any) -> None:
    """``[[half-width > 0 or null, share in (0, 1]], ...]`` with shares adding up to 1."""
    if len(profile) == 0:
        raise ValueError("env.liquidity_profile=[] must list at least one [half-width, share] range")
    for i, entry in enumerate(profile):
        if len(entry) != 2:
            raise ValueError(f"env.liquidity_profile[{i}]={list(entry)} must be [half-width or null, share]")
        if entry[0] is not None:
            check_number(f"env.liquidity_profile[{i}][0]", entry[0], POSITIVE)
        check_number(f"env.liquidity_profile[{i}][1]", entry[1], UNIT_OPEN_LOW)
    total = sum(share for _, share in profile)
    if abs(total - 1) > 1e-9:
        raise ValueError(f"env.liquidity_profile shares must add up to 1, they add up to {total:g}")


def validate(cfg) -> None:
    """Every numeric env.*, driver.*, agent.params, train.* and eval.* value: finite, of the right sign,
    in range; the first bad one raises a ValueError that names its key. Builds nothing, contacts nothing."""
    from omegaconf import OmegaConf

    e = cfg.env
    spec = env_spec(cfg)
    schema = spec.config
    check_backend(cfg.backend, e.id)
    if cfg.backend.market == "attach":  # before a fork is contacted: the world would refuse them when built
        for key in ("v2_pair_usd", "v3_pool_beside_usd", "jit_usd", "sandwich_usd"):
            if (e.get(key) or 0) > 0:
                raise ValueError(
                    f"env.{key}={e[key]} adds to a market of our own; backend.market=attach runs on the fork's, with "
                    f"its own traders and pools: leave env.{key} at 0 (or use backend.market=deploy)"
                )
    for key in ("fee_pips", "v3_pool_beside_fee_pips"):
        if key in e and e[key] not in FEE_TIERS:
            raise ValueError(f"env.{key}={e[key]} must be one of {list(FEE_TIERS)} (the Uniswap V3 fee tiers)")
    if (e.get("v3_pool_beside_usd") or 0) > 0 and e.get("fee_pips") == e.v3_pool_beside_fee_pips:
        raise ValueError(
            f"env.v3_pool_beside_fee_pips={e.fee_pips} is the pool's own tier (env.fee_pips): a chain holds one "
            f"USDC/WETH pool a tier; set it to another of {list(FEE_TIERS)}"
        )
    check_ranges("env", e, schema)
    if e.get("liquidity_profile") is not None:
        check_liquidity_profile(e.liquidity_profile)
    if "background" in e:
        from envs.liquidity_profile import background

        background(e.background, e.fee_pips)  # a name it knows, fitted for this fee tier
    for i, entry in enumerate(e.get("recentering_lps") or []):
        if len(entry) != 2:
            raise ValueError(
                f"env.recentering_lps[{i}]={list(entry)} must be [half-width in ticks, share of pool_value_usd]"
            )
        check_number(f"env.recentering_lps[{i}][0]", entry[0], (lambda x: x >= 1, ">= 1 (ticks)"))
        check_number(f"env.recentering_lps[{i}][1]", entry[1], (lambda x: 0 < x < 1, "in (0, 1)"))
    if e.get("lending") is not None:
        lending = cast(dict, OmegaConf.to_container(e.lending, resolve=True))
        check_numbers("env.lending", lending, NON_NEGATIVE)
        if lending.get("route") is True and not any((e.get(k) or 0) > 0 for k in ("v2_pair_usd", "v3_pool_beside_usd")):
            raise ValueError(
                "env.lending.route=true routes the lending side's swaps among the pools beside the world's own, and "
                "it holds none: add one (env.v2_pair_usd or env.v3_pool_beside_usd), or leave env.lending.route out"
            )
        spec.world.lending_side(lending)  # an unknown key, protocol or combination fails now, naming it
    if "priority_fees_gwei" in e:  # an agent the market lacks is refused as the env is built (check)
        check_numbers("env.priority_fees_gwei", OmegaConf.to_container(e.priority_fees_gwei), NON_NEGATIVE)
    check_number("driver.dt", cfg.driver.dt, POSITIVE)
    check_numbers("driver.params", OmegaConf.to_container(cfg.driver.params, resolve=True), ANY)
    check_numbers("agent.params", OmegaConf.to_container(cfg.agent.params, resolve=True), ANY)
    check_ranges("train", cfg.train, TrainConfig)
    check_ranges("eval", cfg.eval, EvalConfig)
    check_trainer(cfg)
    check_objective(cfg)


def check_objective(cfg) -> None:
    """A search (train.objective, set by hparams_search) maximizes the run's best validation reward: only a run
    with one learner that validates produces it."""
    objective = cfg.train.get("objective")
    if objective is None:
        return
    if objective != VALIDATION_REWARD:
        raise ValueError(f"train.objective={objective!r} must be {VALIDATION_REWARD} or null")
    if env_spec(cfg).role is None and cfg.env.get("train_roles"):
        raise ValueError(
            f"train.objective={objective} (hparams_search) maximizes a run's best validation reward, which "
            "co-training (env.train_roles) does not produce: sweep it as a grid (-m with values, e.g. "
            "trainer.lr=1e-4,3e-4) and compare the runs' test scores in summary.md, or search one role "
            "(env.train_role)"
        )
    if cfg.train.eval_freq == 0:
        raise ValueError(
            f"train.objective={objective} (hparams_search) maximizes the best validation reward, and "
            "train.eval_freq=0 validates never: set train.eval_freq > 0"
        )


def check_trainer(cfg) -> None:
    """trainer=sb3 or trainer=rllib; RLlib trains the market's roles (env=defi_market, env.train_roles)."""
    t = cfg.trainer
    if t.name not in TRAINERS:
        raise ValueError(f"trainer={t.name!r} must be one of {list(TRAINERS)} (trainer=sb3 or trainer=rllib)")
    if t.name != "rllib":
        return
    if env_spec(cfg).role is not None or not cfg.env.get("train_roles"):
        raise ValueError(
            f"trainer=rllib trains defi_market's roles together (env=defi_market env.train_roles=[...]); "
            f"env={cfg.env.id} with train_roles={list(cfg.env.get('train_roles') or [])}: use trainer=sb3 "
            "for one learner, or list the roles"
        )
    for name in ("train_batch_size", "minibatch_size", "num_epochs", "lr", "reward_scale"):
        check_number(f"trainer.{name}", t[name], POSITIVE)
    for name in ("gamma", "gae_lambda"):
        check_number(f"trainer.{name}", t[name], (lambda x: 0 < x <= 1, "in (0, 1]"))
    check_number("trainer.clip_range", t.clip_range, POSITIVE)
    if t.vf_clip_param is not None:
        check_number("trainer.vf_clip_param", t.vf_clip_param, POSITIVE)
    if cfg.backend.name != "numpy":
        raise ValueError(
            f"trainer=rllib steps one market per env runner on numpy; backend={cfg.backend.name} is for "
            "batched training (trainer=sb3): drop backend= (evaluate on evm or anvil with eval.backend=)"
        )
    check_number("trainer.num_env_runners", t.num_env_runners, NON_NEGATIVE)
    if t.minibatch_size > t.train_batch_size:
        raise ValueError(
            f"trainer.minibatch_size={t.minibatch_size} exceeds trainer.train_batch_size={t.train_batch_size}: "
            "lower the minibatch or raise the batch"
        )
    if not t.hidden or any(int(h) < 1 for h in t.hidden):
        raise ValueError(f"trainer.hidden={list(t.hidden)} must list layer widths >= 1, e.g. [64, 64]")


def check(cfg, window: List[float] | None = None) -> None:
    """Check every number (``validate``), then build what the config describes once (on ``window``, the
    part of a historical path or replay the caller runs on: train.window by default), so a bad value
    fails now with its key named, not mid-run. Training also checks that a replay's validation and test
    windows each hold an episode."""
    validate(cfg)
    single, _ = env_classes(cfg.env.id)
    for key, part in (
        ("train.window", cfg.train.window),
        ("train.eval_window", cfg.train.eval_window),
        ("eval.window", cfg.eval.window),
    ):
        if len(part) != 2 or not 0 <= part[0] < part[1] <= 1:
            raise ValueError(f"{key}={list(part)} must be [start, end] fractions with 0 <= start < end <= 1")
    try:
        if window is None and cfg.env.get("flow") == "replay":
            for later in (cfg.train.eval_window, cfg.eval.window):
                single(backend="numpy", **env_kwargs(cfg, later)).close()
        env = single(backend="numpy", **env_kwargs(cfg, cfg.train.window if window is None else window))
        if env_spec(cfg).role is None:  # the market: the roles that learn, and who plays the others
            from agents.multi_agent import other_policies

            if cfg.env.train_roles:  # several roles learn: each must be in the market, env.others names none
                from agents.co_training import check_roles

                check_roles(list(cfg.env.train_roles), dict(cfg.env.others))
                for role in cfg.env.train_roles:
                    other_policies(
                        env,
                        role,
                        {a: p for a, p in dict(cfg.env.others).items()},
                        allow_missing_normalization=cfg.eval.allow_missing_normalization,
                    )
            else:
                other_policies(
                    env,
                    cfg.env.train_role,
                    dict(cfg.env.others),
                    allow_missing_normalization=cfg.eval.allow_missing_normalization,
                )
        env.close()
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise ValueError(f"bad env/driver config (env.*, driver.*): {err}") from err
