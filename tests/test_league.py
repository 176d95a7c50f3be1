"""env.league: single-role training in defi_market_v0 against snapshots drawn from a pool of earlier
checkpoints at every episode reset: uniform draws vary and reproduce with the seed, latest takes the
newest, best the top-scored, the market's opponents act by the drawn snapshot, and bad pools or rules
are refused naming the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO

from agents.league import League, make_league, recorded_score
from agents.market_evaluation import write_report
from agents.multi_agent import RoleVecEnv, other_policies
from agents.policy import load_policy, write_metadata
from envs import defi_market_v0

ROOT = Path(__file__).resolve().parents[1]
MARKET = dict(n_lps=1, n_arbitrageurs=2, n_liquidators=0, horizon=4, driver_kwargs={"dt": 60.0, "sigma": 0.8})
ARBITRAGEURS = ("arbitrageur_0", "arbitrageur_1")


def save_snapshot(path: Path, role: str, seed: int, mtime: float) -> Path:
    """An untrained PPO policy of ``role`` (its own random weights), saved with its metadata as runs do."""
    market = defi_market_v0.vector_env(num_markets=1, **MARKET)
    model = PPO(
        "MlpPolicy", RoleVecEnv(market, role, other_policies(market, role, {})), n_steps=8, batch_size=8, seed=seed
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    write_metadata(path, env_id="defi_market_v0", role=role, algo="ppo", env_config={}, normalize=False)
    os.utime(path, (mtime, mtime))
    return path


def save_score(report_dir: Path, name: str, pnl_usd: float) -> None:
    """The arbitrageurs' evaluation report of a run: ``name`` made ``pnl_usd``, a baseline more."""
    per_agent = {name: pnl_usd, "greedy_arbitrageur": 1e6}  # the baseline's score is not the snapshot's
    results = {n: {a: np.array([pnl]) for a in ARBITRAGEURS} for n, pnl in per_agent.items()}
    write_report(report_dir, "arbitrageur", results, {"config": {"env": {"train_role": "arbitrageur"}}})


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> dict[str, Path]:
    """Three arbitrageur snapshots: a co-training run's (scored 5, oldest), a single-role run's (scored
    12, the best) and a bare checkpoint's (unscored, the newest); and the co-training run's LP."""
    root = tmp_path_factory.mktemp("pool")
    snapshots = {
        "a": save_snapshot(root / "run_a" / "policies" / "arbitrageur" / "model.zip", "arbitrageur", 1, 1_000.0),
        "b": save_snapshot(root / "run_b" / "model.zip", "arbitrageur", 2, 2_000.0),
        "c": save_snapshot(root / "run_c" / "model.zip", "arbitrageur", 3, 3_000.0),
        "lp": save_snapshot(
            root / "run_a" / "policies" / "liquidity_provider" / "model.zip", "liquidity_provider", 4, 0
        ),
    }
    save_score(root / "run_a" / "eval" / "arbitrageur", "arbitrageur/model", 5.0)
    save_score(root / "run_b" / "eval", "run_b/model", 12.0)
    return snapshots


def league_of(pool_entries: list[Path | str], sampling: str, others: dict[str, str] | None = None) -> League | None:
    """The league for training the LP in a small market."""
    market = defi_market_v0.vector_env(num_markets=2, **MARKET)
    return make_league(market, "liquidity_provider", [str(p) for p in pool_entries], sampling, others or {})


def lp_training(pool: dict[str, Path], sampling: str, seed: int, others: dict[str, str] | None = None) -> RoleVecEnv:
    """Two markets whose LP learns, the arbitrageurs drawn from the pool's three entries (two run
    directories and a checkpoint; the co-training run's LP is not drawn)."""
    others = others or {}
    market = defi_market_v0.vector_env(num_markets=2, **MARKET)
    entries = [str(pool["a"].parents[2]), str(pool["b"].parent), str(pool["c"])]
    league = make_league(market, "liquidity_provider", entries, sampling, others)
    return RoleVecEnv(market, "liquidity_provider", other_policies(market, "liquidity_provider", others), seed, league)


def draws(env: RoleVecEnv, episodes: int) -> list[dict[str, Path]]:
    """The snapshots each league agent played, episode by episode."""
    assert env.league is not None
    env.reset()
    seen = [dict(env.league.drawn)]
    while len(seen) < episodes:
        env.step_async(np.zeros(env.num_envs, dtype=np.int64))
        if env.step_wait()[2].any():
            seen.append(dict(env.league.drawn))
    return seen


def test_uniform_draws_every_snapshot_of_the_role_and_reproduces_with_the_seed(pool):
    env = lp_training(pool, "uniform", seed=7)
    assert env.league is not None
    assert set(env.league.candidates) == set(ARBITRAGEURS)  # the LP learns: its own snapshot is not drawn
    assert {s.path for s, _ in env.league.candidates["arbitrageur_0"]} == {pool["a"], pool["b"], pool["c"]}
    first = draws(env, 6)
    for agent in ARBITRAGEURS:
        assert len({episode[agent] for episode in first}) > 1  # the opponents change across resets
        assert sum(env.league.counts[agent].values()) == 6
    assert draws(lp_training(pool, "uniform", seed=7), 6) == first
    assert draws(lp_training(pool, "uniform", seed=8), 6) != first


def test_latest_always_plays_the_newest_snapshot(pool):
    env = lp_training(pool, "latest", seed=0)
    assert all(episode[a] == pool["c"] for episode in draws(env, 3) for a in ARBITRAGEURS)


def test_best_plays_the_snapshot_its_run_scored_highest(pool):
    assert recorded_score(pool["a"], "arbitrageur") == 5.0
    assert recorded_score(pool["b"], "arbitrageur") == 12.0
    assert recorded_score(pool["c"], "arbitrageur") is None  # no report beside it
    env = lp_training(pool, "best", seed=0)
    assert all(episode[a] == pool["b"] for episode in draws(env, 3) for a in ARBITRAGEURS)


def test_the_opponents_act_by_the_drawn_snapshot(pool):
    """The actions the market receives for each arbitrageur are its drawn snapshot's own predictions,
    across an episode's reset (fresh draws); an agent env.others names keeps its policy."""
    env = lp_training(pool, "uniform", seed=3, others={"arbitrageur_1": "baseline:greedy_arbitrageur"})
    assert env.league is not None and set(env.league.candidates) == {"arbitrageur_0"}
    own = {path: load_policy(str(path), env.env.role_of("arbitrageur_0")) for path in (pool["a"], pool["b"], pool["c"])}
    obs = env.reset()
    played = set()
    for _ in range(3 * MARKET["horizon"]):
        drawn = env.league.drawn["arbitrageur_0"]
        played.add(drawn)
        agent_obs = env._obs["arbitrageur_0"]
        env.step_async(np.zeros(env.num_envs, dtype=np.int64))
        np.testing.assert_array_equal(env._actions["arbitrageur_0"], own[drawn].predict(agent_obs)[0])
        assert type(env.others["arbitrageur_1"]).__name__ != "TrainedPolicy"
        obs = env.step_wait()[0]
    assert obs.shape == (2, 9) and len(played) > 1


@pytest.mark.parametrize(
    "entries, sampling, match",
    [
        (["no/such/run"], "latest", r"env.league.pool\[0\]='no/such/run': no such file"),
        (["EMPTY"], "latest", r"env.league.pool\[0\]=.* holds no policy for a role of the market"),
        (["LP"], "latest", "snapshots of liquidity_provider only, the role that learns"),
        (["C"], "newest", r"env.league.sampling='newest' must be one of \['latest', 'uniform', 'best'\]"),
        ([], "newest", "env.league.sampling='newest'"),
        (["C"], "best", "no arbitrageur snapshot of the pool has a score"),
    ],
)
def test_a_bad_league_is_refused_naming_the_key(pool, tmp_path, entries, sampling, match):
    named = {"EMPTY": tmp_path, "LP": pool["lp"], "C": pool["c"]}
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        league_of([named.get(e, e) for e in entries], sampling)


def test_an_empty_pool_is_no_league():
    assert league_of([], "latest") is None


def test_a_snapshot_of_another_market_setup_is_refused(pool):
    """The LP's snapshot chose among the 8 default range widths; in a market of 3 it cannot play."""
    market = defi_market_v0.vector_env(num_markets=1, **MARKET | {"half_widths": (10, 60, 200)})
    with pytest.raises(ValueError, match="trained on another market setup"):
        make_league(market, "arbitrageur", [str(pool["lp"])], "latest", {})


def test_co_training_refuses_a_league():
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "env=defi_market",
            "env.train_roles=[liquidity_provider,arbitrageur]",
            "env.league.pool=[somewhere]",
            "driver=gbm",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "leave env.league.pool empty, or train one role" in result.stderr


def test_train_py_draws_the_opponents_from_the_pool(pool, tmp_path):
    """The config's env.league reaches the training markets: every reset draws the arbitrageurs anew."""
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "env=defi_market",
            "env.train_role=liquidity_provider",
            "env.n_liquidators=0",
            f"env.league.pool=[{pool['a'].parents[2]},{pool['b'].parent},{pool['c']}]",
            "env.league.sampling=uniform",
            "driver=gbm",
            "driver.dt=60",
            "env.horizon=8",
            "train.num_envs=2",
            "train.total_timesteps=64",
            "agent.params.n_steps=16",
            "agent.params.batch_size=32",
            "train.eval_freq=0",
            "train.evaluate_after=false",
            "train.progress_bar=false",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    played = json.loads((tmp_path / "train_metrics.json").read_text())["league_episodes"]
    assert set(played) == set(ARBITRAGEURS)
    for counts in played.values():  # 32 blocks of 8: the first reset and four more
        assert sum(counts.values()) == 5 and set(counts) <= {str(pool[k]) for k in "abc"}
    meta = json.loads((tmp_path / "model.meta.json").read_text())
    assert meta["env_config"]["league"]["sampling"] == "uniform"
