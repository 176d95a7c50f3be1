"""The lending protocols a world can hold (``LendingParams.protocol``), each its pool component's two sides: the
simulator's over the batch axis and the chain's over a ``Chain``, with what a chain world does to ready it. Adding a
lending protocol is its component module and its entry here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from envs.arrays import ArrayBackend
from envs.contracts.market import Market
from envs.contracts.oracle import control_price
from envs.units import BASE_UNIT
from envs.worlds.chain_aave_pool import ChainAavePool
from envs.worlds.lending import AAVE_V3, MORPHO_BLUE, LendingMarket, LendingParams, Venue, lending_sides
from envs.worlds.lending_pool import Credit, LendingPool
from envs.worlds.morpho_blue_market import ChainMorphoBlueMarket, SimMorphoBlueMarket, deploy_market
from envs.worlds.sim_aave_pool import SimAavePool


@dataclass(frozen=True)
class LendingProtocol:
    """A lending protocol's component, on each backend, for a world's lending side."""

    #: the batched pool: (worlds, params, array backend) -> component, with accounts for the borrower agent, the
    #: scripted borrowers and the crowd
    sim: Callable[[int, LendingParams, ArrayBackend], LendingPool]
    #: once per build, on the chain: (market, params, attached?, start price, the accounts that will deal with it,
    #: credit) -> what the chain side needs beyond the market (a market deployed beside it; None)
    prepare: Callable[[Market, LendingParams, bool, float, list[str], Credit], Any]
    #: the chain side: (market, what ``prepare`` returned, the borrower agent's account, the wallets' accounts,
    #: credit or None on a live chain) -> component
    chain: Callable[[Market, Any, str, Callable[[str], str], Credit | None], LendingPool]
    #: whether a fork's own market holds it (an address book names it) or it is deployed beside a built market only
    attachable: bool
    #: whether its interest accrues on a built market between a step's blocks enough to part the chain from the
    #: simulator, so the chain mines a step's blocks at one moment (``chain_lending.one_moment_a_step``)
    accrues: Callable[[LendingParams], bool]


def _prepare_aave(market: Market, params: LendingParams, attached: bool, price: float, traders, credit) -> None:
    """On an attached market, WETH's oracle source becomes one that can follow the reference, set at ``price`` (the
    real feed cannot be moved: ``envs.contracts.oracle``); on a built one, the reserves take the calibrated rate
    curves where ``params`` names a calibration. Then ``traders`` may deal with the Pool."""
    aave, tokens = market.aave, market.tokens
    if attached:
        control_price(aave, tokens["WETH"], round(price * BASE_UNIT))
    elif (calibration := params.calibrated()) is not None:
        curves = params.reserve_params()
        for symbol in calibration.reserves:
            aave.set_rate_curve(tokens[symbol], curves[symbol])
    for token in (tokens["USDC"], tokens["WETH"]):
        for who in traders:
            token.approve(who, aave.pool.address)


PROTOCOLS: dict[str, LendingProtocol] = {
    AAVE_V3: LendingProtocol(
        sim=lambda n, p, b: SimAavePool(n, p.reserve_params(), p.supply_usd, p.borrowers + 2, b),
        prepare=_prepare_aave,
        chain=lambda market, _, borrower, address, credit: ChainAavePool(
            market.aave, market.tokens, borrower, address, credit
        ),
        attachable=True,
        accrues=lambda p: p.calibrated() is not None,
    ),
    MORPHO_BLUE: LendingProtocol(
        sim=lambda n, p, b: SimMorphoBlueMarket(n, p.lltv, p.supply_usd, p.borrowers + 2, b),
        prepare=lambda market, p, _, price, traders, credit: deploy_market(
            market.tokens, price, p.lltv, p.supply_usd, traders, credit
        ),
        chain=lambda _, blue, borrower, address, credit: ChainMorphoBlueMarket(blue, borrower, address, credit),
        attachable=False,
        accrues=lambda p: True,
    ),
}


def sim_sides(
    world: Venue, lending: LendingParams | Sequence[LendingParams] | None, backend: ArrayBackend
) -> tuple[LendingMarket, ...]:
    """A simulated world's lending sides: each over the batched pool of its protocol, in order."""
    return tuple(
        LendingMarket(world, PROTOCOLS[p.protocol].sim(world.n, p, backend), p) for p in lending_sides(lending)
    )
