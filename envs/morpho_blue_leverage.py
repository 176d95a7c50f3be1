"""``defigym/MorphoBlueLeverage-v0``: the leveraged ETH position of ``AaveLeverage-v0`` on a Morpho Blue market
(WETH collateral, USDC loans, one liquidation LTV) in place of Aave V3's reserves: the same borrower role, world
and block, with the lending pool component swapped (``envs.worlds.morpho_blue_market``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Dict

from envs import aave_leverage
from envs.episodes import BatchedVectorEnv, Episodes, SingleWorldEnv
from envs.spec import EnvSpec
from envs.worlds.lending import MORPHO_BLUE
from envs.worlds.make import UNISWAP_V3, WITH_LENDING, WorldRecipe

#: the market's lending settings unless told otherwise: no crowd (Morpho has no fitted borrow demand here)
LENDING = {"protocol": MORPHO_BLUE, "calibration": "none"}
#: what its world is made of (its spec's ``world``): AaveLeverage-v0's, with a Morpho Blue market by default
WORLD = WorldRecipe(
    UNISWAP_V3,
    WITH_LENDING,
    lending_defaults=LENDING,
    lending_protocols=(MORPHO_BLUE,),
    other_protocols="use defigym/AaveLeverage-v0 for Aave V3",
)


@functools.wraps(aave_leverage.episodes, assigned=())  # its arguments are AaveLeverage-v0's (inspect reads them)
def episodes(n: int, backend: str = "numpy", lending: dict | None = None, **kwargs: Any) -> Episodes:
    """``AaveLeverage-v0``'s episodes on a Morpho Blue market (``lending`` overrides ``LENDING``; ``lltv`` picks
    the market's liquidation LTV; its world's recipe, ``WORLD``, refuses another protocol)."""
    return aave_leverage.episodes(n, backend, lending=WORLD.lending_overrides(lending), **kwargs)


_DOC = (
    """
    ## Description
    As ``defigym/AaveLeverage-v0``, on a Morpho Blue market: the agent supplies WETH as collateral and borrows
    USDC from one isolated market with a liquidation LTV (``lending.lltv``, 0.86 by default) and no separate
    max LTV: it may borrow up to the LLTV, and a liquidator may take any position past it, seizing collateral
    worth the debt repaid times the liquidation incentive factor min(1.15, 1 / (1 - 0.3 (1 - LLTV))). Interest
    follows the market's interest rate model, AdaptiveCurveIrm as on Morpho's mainnet markets. The market's
    USDC is lent at the start by one supplier (``lending.supply_usd``); there is no crowd of other borrowers.
"""
    + "\n    ## Action Space"
    + aave_leverage._DOC.split("## Action Space", 1)[1]
)


class MorphoBlueLeverageEnv(SingleWorldEnv):
    __doc__ = "A leveraged position on Morpho Blue, one world on any backend.\n" + _DOC

    episodes = staticmethod(episodes)


class MorphoBlueLeverageVectorEnv(BatchedVectorEnv):
    __doc__ = "A leveraged position on Morpho Blue, ``num_envs`` worlds stepped together (numpy or torch).\n" + _DOC

    episodes = staticmethod(episodes)


@dataclass
class MorphoBlueLeverageConfig(aave_leverage.AaveLeverageConfig):
    """env=morpho_blue_leverage: as env=aave_leverage, on a Morpho Blue market."""

    lending: Dict[str, Any] = field(default_factory=lambda: dict(LENDING))


SPEC = EnvSpec(
    world=WORLD,
    id="defigym/MorphoBlueLeverage-v0",
    name="morpho_blue_leverage",
    role="borrower",
    entry_point="envs.morpho_blue_leverage:MorphoBlueLeverageEnv",
    vector_entry_point="envs.morpho_blue_leverage:MorphoBlueLeverageVectorEnv",
    config=MorphoBlueLeverageConfig,
    kwargs=aave_leverage.SPEC.kwargs,
    capital_account=True,
    actions=aave_leverage.SPEC.actions,
    chain_features=(),  # its Morpho market is deployed beside the built one: no attach to a fork's
    baselines=aave_leverage.SPEC.baselines,
)
