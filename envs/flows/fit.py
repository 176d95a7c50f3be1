"""Fit the calibrated flow (``envs.flows.calibrated``) to a pool's swaps, holding the last days out, and
measure how well it predicts them: trade-size KS distance, the hour-of-day profile, daily volume per
unit of liquidity, and the fee APR of a passive full-range LP."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from envs.flows.calibrated import DAY, FlowParams, fit_flow, informed, ks_distance, sample_sizes, swap_sample
from envs.units import FEE_DENOMINATOR, USDC_UNIT, WETH_UNIT


def reference_at(times: np.ndarray, price_csv: str | Path) -> np.ndarray:
    """The reference price at each time, linearly interpolated from a price CSV (hourly ETH/USD by default)."""
    from envs.drivers.historical import load_price_csv

    path = load_price_csv(price_csv, dt=3600.0)
    if times.min() < path.timestamps[0] or times.max() > path.timestamps[-1]:
        raise ValueError(
            f"{price_csv} covers {path.timestamps[0]:.0f}-{path.timestamps[-1]:.0f}, not the swaps' "
            f"{times.min():.0f}-{times.max():.0f}: give a price file for the swaps' dates"
        )
    return np.interp(times, path.timestamps, path.prices)


def full_range_fee_apr(size_usd: np.ndarray, liquidity: np.ndarray, price: float, fee_pips: int, days: float) -> float:
    """Fee APR of a full-range position (fees per swap: fee x size x l / L) over ``days``, valued at ``price``.
    A full-range position of liquidity l holds l/sqrt(P) USDC and l*sqrt(P) WETH (raw, P = WETH per USDC raw)."""
    sqrt_p = np.sqrt(WETH_UNIT / USDC_UNIT / price)  # sqrt(WETH raw per USDC raw)
    value_per_l = (1 / sqrt_p) / USDC_UNIT + sqrt_p / WETH_UNIT * price
    fees_per_l = fee_pips / FEE_DENOMINATOR * float(np.sum(size_usd / liquidity))
    return fees_per_l / value_per_l * 365 / days


def fit_and_validate(
    records, price_csv: str | Path, fee_pips: int, holdout_days: int = 6, source: str = "", seed: int = 0
) -> FlowParams:
    """Fit on all but the last ``holdout_days`` UTC days; the held-out figures go into ``params.fit``."""
    sample = swap_sample(records)
    if len(sample.time) < 100:
        raise ValueError(f"{len(sample.time)} swaps are too few to fit a flow (at least 100)")
    day = (sample.time // DAY).astype(int)
    cut = day.max() - holdout_days + 1
    if cut <= day.min():
        raise ValueError(f"holdout_days={holdout_days} leaves no day to fit on ({day.max() - day.min() + 1} days)")
    reference = reference_at(sample.time, price_csv)
    train, held = sample.select(day < cut), sample.select(day >= cut)
    ref_train, ref_held = reference[day < cut], reference[day >= cut]
    params = fit_flow(train, ref_train, fee_pips, source)
    days_train = float(len(np.unique(day[day < cut])))
    days_held = float(len(np.unique(day[day >= cut])))
    noise_held = held.select(~informed(held, ref_held, fee_pips))
    noise_train = train.select(~informed(train, ref_train, fee_pips))
    drawn = sample_sizes(params, np.random.default_rng(seed), 200_000)
    by_hour = np.bincount((noise_held.time // 3600 % 24).astype(int), weights=noise_held.size_usd, minlength=24)
    predicted_volume = params.volume_per_liquidity * np.median(held.liquidity) * days_held
    total_per_liquidity = params.volume_per_liquidity / max(1 - params.informed_share, 1e-9)
    price = float(np.mean(held.price_after))
    real_apr = full_range_fee_apr(held.size_usd, held.liquidity, price, fee_pips, days_held)
    model_apr = full_range_fee_apr(
        np.array([total_per_liquidity * days_held]), np.array([1.0]), price, fee_pips, days_held
    )
    fit = {
        "train_days": days_train,
        "held_out_days": days_held,
        "train_swaps": int(len(train.time)),
        "held_out_swaps": int(len(held.time)),
        "size_ks_model_vs_held_out": ks_distance(drawn, noise_held.size_usd),
        "size_ks_train_vs_held_out": ks_distance(noise_train.size_usd, noise_held.size_usd),
        "hourly_profile_tv_distance": float(np.abs(np.array(params.hourly_share) - by_hour / by_hour.sum()).sum() / 2),
        "daily_volume_rel_error": float(predicted_volume / noise_held.size_usd.sum() - 1),
        "full_range_fee_apr_model": model_apr,
        "full_range_fee_apr_held_out": real_apr,
        "full_range_fee_apr_rel_error": model_apr / real_apr - 1,
    }
    return replace(params, fit=fit)
