"""The calibrated flow: fitted to the shared real swaps with the last six days held out, it predicts
them (sizes, hour of day, volume per unit of liquidity, a passive full-range LP's fee APR); the shipped
parameters are that fit; the sampler draws what the parameters say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from envs.data.readers import read_export
from envs.flows.calibrated import DAY, DEFAULT_FLOW_FILE, CalibratedFlow, FlowParams, ks_distance, sample_sizes
from envs.flows.fit import fit_and_validate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SWAPS = SHARED / "uniswap_v3" / "usdc_weth_3000_swaps_2021-08-10_2021-09-05.csv"
PRICES = SHARED / "prices" / "eth_usd_hourly_2021-2023.csv"


@pytest.fixture(scope="module")
def fitted() -> FlowParams:
    records, _ = read_export(SWAPS)
    return fit_and_validate(records, PRICES, 3000, holdout_days=6)


def test_the_fit_predicts_the_held_out_days(fitted):
    fit = fitted.fit
    assert fit["held_out_days"] == 6 and fit["train_days"] >= 20
    # sizes: as close to the held-out days as the training days themselves are
    assert fit["size_ks_model_vs_held_out"] < fit["size_ks_train_vs_held_out"] + 0.02
    assert fit["hourly_profile_tv_distance"] < 0.25
    assert abs(fit["daily_volume_rel_error"]) < 0.25
    assert abs(fit["full_range_fee_apr_rel_error"]) < 0.25
    assert 0.05 < fitted.informed_share < 0.6 and 0.5 < fitted.persistence < 1


def test_the_shipped_parameters_are_that_fit(fitted):
    shipped = json.loads(DEFAULT_FLOW_FILE.read_text())
    for key in ("volume_per_liquidity", "size_tail_usd", "size_tail_alpha", "persistence", "informed_share"):
        assert shipped[key] == pytest.approx(getattr(fitted, key), rel=1e-12), key
    assert shipped["fit"] == pytest.approx(fitted.fit)


def test_the_sampler_draws_the_fitted_volume_direction_and_sizes():
    params = FlowParams.load()
    flow = CalibratedFlow(params, max_orders=512)
    rng = np.random.default_rng(3)
    n, liquidity, hour, dt = 2_000, np.full(2_000, params.reference_liquidity), 14, 3600.0  # the fitted pool's depth
    volume, same, pairs, sizes = 0.0, 0, 0, []
    for _ in range(20):
        orders = flow.orders(rng, n, liquidity, hour, dt, np.full(n, 3000.0), merge=False)
        for (a, size_a), (b, size_b) in zip(orders, orders[1:]):
            both = (size_a > 0) & (size_b > 0)
            same += int(np.sum(both & (a == b)))
            pairs += int(np.sum(both))
        for _, size in orders:
            volume += float(size.sum())
            sizes.append(size[size > 0])
    expected = (
        params.volume_per_liquidity * params.reference_liquidity * params.hourly_share[hour] * 24 * dt / DAY * n * 20
    )
    assert volume == pytest.approx(expected, rel=0.1)  # heavy tail: a loose bound on a sum of 100k draws
    assert same / pairs == pytest.approx(params.persistence, abs=0.01)
    assert ks_distance(np.concatenate(sizes), sample_sizes(params, np.random.default_rng(4), 50_000)) < 0.02
    assert flow.capped == 0


def test_bad_flow_parameters_are_refused(tmp_path):
    good = json.loads(DEFAULT_FLOW_FILE.read_text())
    with pytest.raises(ValueError, match="persistence"):
        FlowParams(
            **{
                **good,
                "hourly_share": tuple(good["hourly_share"]),
                "persistence": 1.5,
                "size_body_log_quantiles": tuple(good["size_body_log_quantiles"]),
            }
        )
    with pytest.raises(ValueError, match="24 shares"):
        FlowParams(
            **{**good, "hourly_share": (1.0,), "size_body_log_quantiles": tuple(good["size_body_log_quantiles"])}
        )
    (tmp_path / "flow.json").write_text('{"volume_per_liquidity": 1}')
    with pytest.raises(ValueError, match="not a flow parameter file"):
        FlowParams.load(tmp_path / "flow.json")
    with pytest.raises(FileNotFoundError, match="fit-flow"):
        FlowParams.load(tmp_path / "missing.json")


def test_a_calibrated_world_draws_flow_in_proportion_to_its_liquidity_and_its_hour():
    """Swaps arrive as in the fitted pool whatever the depth; their sizes, and so the volume, follow the
    pool's active liquidity and the hour's share."""
    from envs.drivers import HistoricalDriver
    from envs.worlds.sim import UniswapV3World, V3WorldParams

    def drawn(pool_value_usd: float, start: int) -> tuple[float, float, float]:
        driver = HistoricalDriver(dt=3600.0, start=start, horizon=10)
        world = UniswapV3World(
            4_000, driver, V3WorldParams(fee_pips=3000, flow="calibrated", pool_value_usd=pool_value_usd, lps=0)
        )
        world.reset(np.random.default_rng(0))
        orders = world._flow.orders(
            world.rng,
            world.n,
            world.active_liquidity(),
            world.clock // 3600 % 24,
            world.dt,
            world.reference_price(),
            merge=False,
        )
        count = sum(int(np.sum(size > 0)) for _, size in orders)
        volume = sum(float(size.sum()) for _, size in orders)
        return count / 4_000, volume / 4_000, float(np.median(world.active_liquidity()))

    start = 24 * 30  # a step whose UTC hour the price file gives
    shallow, deep = drawn(5e6, start), drawn(20e6, start)
    assert deep[0] == pytest.approx(shallow[0], rel=0.05)  # the same arrivals
    assert deep[1] / shallow[1] == pytest.approx(deep[2] / shallow[2], rel=0.1)  # volume follows liquidity
    params = FlowParams.load()
    hour = int(HistoricalDriver(dt=3600.0, start=start, horizon=10).path.timestamps[start] // 3600 % 24)
    expected = params.volume_per_liquidity * shallow[2] * params.hourly_share[hour] * 24 * 3600 / DAY
    assert shallow[1] == pytest.approx(expected, rel=0.1)


def test_merged_orders_carry_the_same_volume_in_each_direction():
    params = FlowParams.load()
    n, liquidity = 500, np.full(500, 2e19)
    split = CalibratedFlow(params).orders(
        np.random.default_rng(9), n, liquidity, 3, 3600.0, np.full(n, 3000.0), merge=False
    )
    merged = CalibratedFlow(params).orders(np.random.default_rng(9), n, liquidity, 3, 3600.0, np.full(n, 3000.0))
    for direction in (True, False):
        total = sum(np.where(sell == direction, size, 0.0) for sell, size in split)
        assert np.allclose(sum(np.where(sell == direction, size, 0.0) for sell, size in merged), total)
    assert len(merged) < len(split) / 3  # far fewer vectorized swaps
    for a, b in zip(merged, merged[1:]):  # a world's runs alternate direction
        both = (a[1] > 0) & (b[1] > 0)
        assert not np.any(both & (a[0] == b[0]))


def test_a_step_with_no_swap_in_any_world_draws_nothing():
    params = FlowParams.load()
    assert CalibratedFlow(params).orders(np.random.default_rng(0), 3, np.zeros(3), 0, 12.0, np.full(3, 3000.0)) == []


def test_the_calibrated_flow_gives_the_same_trajectory_on_numpy_and_evm():
    """The flow's draws depend on the pool's active liquidity, read from the simulator on numpy and from
    the real pool on evm: the two agree, so the same swaps are drawn and the episodes match."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers the ids)

    def run(backend: str):
        env = gym.make(
            "defigym/UniswapV3LP-v0", backend=backend, horizon=10, fee_pips=3000, world={"flow": "calibrated"}
        )
        env.reset(seed=2)
        rows = [
            (r, i["fees_usd"], i["value_usd"])
            for r, i in ((step[1], step[4]) for step in (env.step(a) for a in [3, 0, 0, 0, 0, 2, 0, 0, 0, 0]))
        ]
        env.close()
        return np.array(rows)

    sim, evm = run("numpy"), run("evm")
    np.testing.assert_allclose(evm, sim, rtol=1e-9, atol=0.01)
    assert sim[:, 1].sum() > 1.0  # the calibrated flow paid the position fees


def test_the_tail_is_cut_at_the_largest_swap_seen():
    params = FlowParams.load()
    sizes = sample_sizes(params, np.random.default_rng(1), 2_000_000)
    assert sizes.max() <= params.size_max_usd and sizes.max() > 0.9 * params.size_max_usd
    with pytest.raises(ValueError, match="size_max_usd"):
        FlowParams(
            **{
                **json.loads(DEFAULT_FLOW_FILE.read_text()),
                "size_max_usd": 1.0,
                "hourly_share": params.hourly_share,
                "size_body_log_quantiles": params.size_body_log_quantiles,
            }
        )
