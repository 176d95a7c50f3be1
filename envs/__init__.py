"""defigym environments; importing this package registers the env ids with Gymnasium.

``SPECS`` lists every env's ``EnvSpec`` (``envs.spec``), by id; ``spec_of`` finds one.
"""

from gymnasium.envs.registration import register

from envs import (
    aave_leverage,
    aave_liquidator,
    cex_dex_arbitrage,
    defi_market_v0,
    morpho_blue_leverage,
    uniswap_v2_lp,
    uniswap_v3_lp,
)
from envs.spec import EnvSpec

SPECS: dict[str, EnvSpec] = {
    module.SPEC.id: module.SPEC
    for module in (
        uniswap_v3_lp,
        cex_dex_arbitrage,
        aave_leverage,
        aave_liquidator,
        morpho_blue_leverage,
        uniswap_v2_lp,
        defi_market_v0,
    )
}

for _spec in SPECS.values():
    if _spec.vector_entry_point is not None:  # the PettingZoo market is not a Gymnasium env
        register(
            id=_spec.id,
            entry_point=_spec.entry_point,
            vector_entry_point=_spec.vector_entry_point,
            max_episode_steps=None,
        )


def spec_of(env_id: str) -> EnvSpec:
    """The spec of an env id; a ValueError listing the ids otherwise."""
    if env_id not in SPECS:
        raise ValueError(f"unknown env {env_id!r}: the envs are {sorted(SPECS)}")
    return SPECS[env_id]
