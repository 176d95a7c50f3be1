"""Every numeric env.*, driver.*, train.* and eval.* value is checked at start (finite, sign, range),
naming the key, before any env is built: NaN, negatives and out-of-range values do not reach a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.config import check, validate
from tests.configs import SANDWICH, config

ROOT = Path(__file__).resolve().parents[1]
ENV_GROUPS = sorted(p.stem for p in (ROOT / "configs" / "env").glob("*.yaml"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("env.agent_usd=nan", "env.agent_usd=nan must be a finite number > 0"),
        ("env.agent_usd=-1", "env.agent_usd=-1.0 must be a finite number > 0"),
        ("env.pool_value_usd=nan", "env.pool_value_usd=nan must be a finite number > 0"),
        ("env.pool_value_usd=inf", "env.pool_value_usd=inf must be a finite number > 0"),
        ("env=aave_leverage env.targets=[0.3,nan]", "env.targets[1]=nan must be a finite number in [0, 1)"),
        ("env=aave_leverage env.targets=[0.3,1.0]", "env.targets[1]=1.0 must be a finite number in [0, 1)"),
        ("env.gas_usd_per_rebalance=-5", "env.gas_usd_per_rebalance=-5.0 must be a finite number >= 0"),
        ("env.gas_usd_per_rebalance=nan", "env.gas_usd_per_rebalance=nan must be a finite number >= 0"),
        ("env.gas_price_gwei=-1", "env.gas_price_gwei=-1.0 must be a finite number >= 0"),
        ("env.fee_pips=501", "env.fee_pips=501 must be one of [100, 500, 3000, 10000]"),
        ("env.v3_pool_beside_fee_pips=250", "env.v3_pool_beside_fee_pips=250 must be one of [100, 500, 3000, 10000]"),
        (
            "env.fee_pips=3000 env.v3_pool_beside_usd=1e6 env.v3_pool_beside_fee_pips=3000",
            "env.v3_pool_beside_fee_pips=3000 is the pool's own tier",
        ),
        ("env.v3_pool_beside_usd=-1", "env.v3_pool_beside_usd=-1.0 must be a finite number >= 0"),
        (
            "env=aave_liquidator +env.lending.route=true",
            "env.lending.route=true routes the lending side's swaps among the pools beside the world's own, and it "
            "holds none",
        ),
        (
            "backend=evm backend.market=attach backend.fork_url=http://127.0.0.1:1 backend.addresses=ethereum "
            "env.v3_pool_beside_usd=1e6",
            "env.v3_pool_beside_usd=1000000.0 adds to a market of our own; backend.market=attach",
        ),
        ("env.horizon=0", "env.horizon=0 must be a finite number > 0"),
        ("env.initial_half_width=-10", "env.initial_half_width=-10 must be a finite number > 0"),
        ("env.half_widths=[0,100]", "env.half_widths[0]=0 must be a finite number > 0"),
        ("env.half_widths=[]", "env.half_widths=[] must list at least one value"),
        ("env.noise_traders=-1", "env.noise_traders=-1 must be a finite number >= 0"),
        ("env.noise_trade_usd=nan", "env.noise_trade_usd=nan must be a finite number >= 0"),
        ("env=cex_dex_arbitrage env.compete=1.5", "env.compete=1.5 must be a finite number in [0, 1]"),
        ("env=cex_dex_arbitrage env.compete=nan", "env.compete=nan must be a finite number in [0, 1]"),
        ("env=cex_dex_arbitrage env.fractions=[0.0,0.5]", "env.fractions[0]=0.0 must be a finite number in (0, 1]"),
        ("env=uniswap_v2_lp env.shares=[0.5,1.2]", "env.shares[1]=1.2 must be a finite number in [0, 1]"),
        ("env=aave_liquidator env.slots=0", "env.slots=0 must be a finite number > 0"),
        ("env=defi_market env.n_arbitrageurs=-1", "env.n_arbitrageurs=-1 must be a finite number >= 0"),
        ("env=defi_market env.n_lps=-1", "env.n_lps=-1 must be a finite number >= 0"),
        ("env=defi_market env.n_jit_providers=-1", "env.n_jit_providers=-1 must be a finite number >= 0"),
        (f"{SANDWICH} +env.priority_fees_gwei.searcher_0=-1.0", "env.priority_fees_gwei.searcher_0=-1.0 must be a"),
        (f"{SANDWICH} +env.priority_fees_gwei.searcher_1=1", "unknown agents: ['searcher_1']"),
        (f"{SANDWICH} env.flow_priority_fee_gwei=-0.5", "env.flow_priority_fee_gwei=-0.5 must be a finite number >= 0"),
        ("env.liquidity_profile=[[nan,0.5],[null,0.5]]", "env.liquidity_profile[0][0]=nan must be a finite number > 0"),
        ("env.liquidity_profile=[[0.1,0.5],[null,-0.5]]", "env.liquidity_profile[1][1]=-0.5 must be a finite number"),
        ("env.liquidity_profile=[[0.1,0.5],[null,0.4]]", "env.liquidity_profile shares must add up to 1"),
        ("env.slippage_bps=-5", "env.slippage_bps=-5.0 must be a finite number >= 0"),
        ("env.sandwich_usd=nan", "env.sandwich_usd=nan must be a finite number >= 0"),
        ("env.background=moving", "env.background='moving' must be one of ['recentering', 'static']"),
        ("env.fee_pips=100", "fitted for the fee tiers [500, 3000], not fee_pips=100: set env.background=static"),
        ("env.recentering_lps=[[0,0.3]]", "env.recentering_lps[0][0]=0 must be a finite number >= 1 (ticks)"),
        ("env.recentering_lps=[[2400,1.3]]", "env.recentering_lps[0][1]=1.3 must be a finite number in (0, 1)"),
        ("env.recentering_lps=[[2400,0.6],[600,0.5]]", "recentering_lps take 1.1 of pool_value_usd"),
        ("env=aave_leverage +env.lending.supply_usd=-1", "env.lending.supply_usd=-1 must be a finite number >= 0"),
        ("driver.dt=0", "driver.dt=0.0 must be a finite number > 0"),
        ("driver.params.sigma=nan", "driver.params.sigma=nan must be a finite number"),
        ("agent.params.learning_rate=nan", "agent.params.learning_rate=nan must be a finite number"),
        ("train.total_timesteps=-5", "train.total_timesteps=-5 must be a finite number > 0"),
        ("train.num_envs=0", "train.num_envs=0 must be a finite number > 0"),
        ("train.eval_freq=-1", "train.eval_freq=-1 must be a finite number >= 0"),
        ("train.eval_episodes=0", "train.eval_episodes=0 must be a finite number > 0"),
        ("eval.episodes=0", "eval.episodes=0 must be a finite number > 0"),
        ("train.objective=sharpe", "train.objective='sharpe' must be validation_reward or null"),
        ("hparams_search=ppo_optuna train.eval_freq=0", "train.eval_freq=0 validates never"),
    ],
)
def test_a_nan_negative_or_out_of_range_value_is_refused_naming_the_key(override, message):
    with pytest.raises(ValueError) as err:
        check(config("driver=gbm", *override.split(" ")))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["env=aave_leverage", "env.reward=sharpe"], "reward"),
        (["env=aave_leverage", "env.fractions=[7.0]"], "fractions"),
        (["env=uniswap_v3_lp", "env.targets=[0.5]"], "targets"),
        (["env=uniswap_v2_lp", "env.fee_pips=3000"], "fee_pips"),
        (["env=cex_dex_arbitrage", "+env.train_role=liquidator"], "train_role"),
        (["env=aave_leverage", "+env.lending.borrower=1"], "lending"),  # a lending key misspelt
        (["env=uniswap_v2_lp", "env.lending.protocol=compound"], "lending"),
    ],
)
def test_a_key_the_env_does_not_take_is_refused_naming_it(overrides, key):
    """Each env reads env.* through its own schema: a key of another env fails when the config is
    composed, instead of being dropped silently."""
    from hydra.errors import ConfigCompositionException

    with pytest.raises((ConfigCompositionException, ValueError)) as err:
        check(config("driver=gbm", *overrides))  # composing fails; a forced +key fails the check
    assert f"env.{key}" in str(err.value)


def test_an_env_config_without_its_schema_is_refused(tmp_path):
    """A hand-written configs/env/<name>.yaml that forgets `defaults: [base_<name>, _self_]` would read
    any key untyped: check refuses it, saying what to add."""
    from omegaconf import OmegaConf

    cfg = config("driver=gbm")
    loose = OmegaConf.merge(cfg, {"env": OmegaConf.create(OmegaConf.to_container(cfg.env))})
    OmegaConf.set_struct(loose, False)
    loose.env = OmegaConf.create(OmegaConf.to_container(cfg.env))
    with pytest.raises(ValueError, match="base_uniswap_v3_lp"):
        check(loose)


@pytest.mark.parametrize("group", ENV_GROUPS)
def test_every_shipped_env_config_is_valid(group):
    validate(config(f"env={group}", "driver=gbm"))


def test_train_with_a_negative_budget_exits_non_zero_before_training():
    result = subprocess.run(
        [sys.executable, "train.py", "train.total_timesteps=-5", "train.progress_bar=false"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "train.total_timesteps=-5 must be a finite number > 0" in result.stderr
    assert "trained" not in result.stdout


def test_evaluate_with_a_nan_capital_exits_non_zero_naming_the_key():
    result = subprocess.run(
        [sys.executable, "evaluate.py", "env.agent_usd=nan", "backend=numpy", "eval.episodes=1", "eval.plots=false"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "env.agent_usd=nan must be a finite number > 0" in result.stderr


def test_the_configs_background_is_the_one_fitted_to_real_turnover_and_a_forks_or_replays_lps_replace_it():
    from agents.config import env_kwargs
    from envs.liquidity_profile import DEFAULT_LIQUIDITY_PROFILE, FITTED_BACKGROUNDS

    def world(*overrides: str) -> dict:
        return env_kwargs(config(*overrides), [0.0, 0.7])["world"]

    for fee in (500, 3000):
        w = world(f"env.fee_pips={fee}")
        assert (w["recentering_lps"], w["liquidity_profile"]) == FITTED_BACKGROUNDS[fee]
    w = world("env.background=static")
    assert w["recentering_lps"] == () and w["liquidity_profile"] == DEFAULT_LIQUIDITY_PROFILE
    w = world("env.recentering_lps=[[600,0.2]]")  # a part given overrides that part only
    assert w["recentering_lps"] == ((600, 0.2),) and w["liquidity_profile"] == FITTED_BACKGROUNDS[500][1]
    assert world("env.flow=replay", "env.flow_file=x.parquet")["recentering_lps"] == ()
    assert world("backend.init_from=http://127.0.0.1:8545@1")["recentering_lps"] == ()
    attach = (
        "backend=evm",
        "backend.market=attach",
        "backend.fork_url=http://127.0.0.1:8545",
        "backend.addresses=ethereum",
    )
    assert world(*attach)["recentering_lps"] == ()
    assert world(*attach, "env.recentering_lps=[[600,0.2]]")["recentering_lps"] == (
        (600, 0.2),
    )  # refused later, by name


def test_the_sandwich_searcher_and_slippage_limits_are_config_keys():
    from agents.config import env_kwargs

    cfg = config("env.slippage_bps=50", "env.sandwich_usd=2000000", "env.horizon=4")
    check(cfg)
    world = env_kwargs(cfg, [0.0, 0.7])["world"]
    assert world["slippage_bps"] == 50 and world["sandwich_usd"] == 2e6


@pytest.mark.parametrize("env", ["aave_leverage", "aave_liquidator", "defi_market"])
def test_a_lending_envs_protocol_is_a_key_to_override(env):
    """The lending configs name their protocol, so ``env.lending.protocol=morpho_blue`` overrides it (no ``+``)."""
    from agents.config import env_kwargs

    cfg = config(f"env={env}", "env.lending.protocol=morpho_blue", "env.lending.calibration=none")
    validate(cfg)
    assert env_kwargs(cfg)["lending"]["protocol"] == "morpho_blue"


def test_every_numeric_key_of_every_schema_states_its_range():
    """A schema states each number's range beside its default (``envs.spec.ranged``), so a new key cannot slip
    past the config check unranged; the fee tier is checked against the tiers themselves."""
    import typing
    from dataclasses import fields

    from agents.config import EvalConfig, TrainConfig
    from envs import SPECS
    from envs.spec import rules

    numeric = {int, float, typing.Optional[int], typing.Optional[float], typing.List[int], typing.List[float]}
    # tiers in envs.units.FEE_TIERS; any integer seeds; [start, end] windows, checked as pairs by agents.config.check
    checked_otherwise = {"fee_pips", "v3_pool_beside_fee_pips", "seed", "window", "eval_window"}
    unranged = []
    for schema in [spec.config for spec in SPECS.values()] + [TrainConfig, EvalConfig]:
        hints, ranged = typing.get_type_hints(schema), rules(schema)
        for f in fields(schema):
            if hints[f.name] in numeric and f.name not in ranged and f.name not in checked_otherwise:
                unranged.append(f"{schema.__name__}.{f.name}")
    assert not unranged, f"numeric config keys without a range (envs.spec.ranged): {unranged}"
