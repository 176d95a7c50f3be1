"""A chain world's lending side (``ChainUniswapV3World(..., lending=...)``): the chain's lending pool component
(Aave V3's real Pool, AaveOracle and SwapRouter, ``ChainAavePool``; or a Morpho Blue market deployed beside the
built market, ``ChainMorphoBlueMarket``), driven as the simulator drives its own (same price path, same borrowers,
same scripted liquidator), so the two can be compared step by step. The chain's clock moves ``dt`` a step (each
step starts at the simulator's time; its transactions then land in blocks of their own, 12 s apart)."""

from __future__ import annotations

from typing import Callable

from envs.contracts.accounts import ARBITRAGEUR, ARBITRAGEUR_AGENT
from envs.contracts.market import Market
from envs.contracts.morpho_blue import MorphoBlue
from envs.contracts.oracle import control_price
from envs.contracts.tokens import Token
from envs.evm.chain import Chain
from envs.units import BASE_UNIT
from envs.worlds.chain_aave_pool import ChainAavePool
from envs.worlds.lending import MORPHO_BLUE, LendingParams
from envs.worlds.lending_pool import LendingPool
from envs.worlds.morpho_blue_market import ChainMorphoBlueMarket, deploy_market


def check_chain_lending(params: LendingParams, book: dict | None, replay: bool) -> None:
    """A lending side runs on a market of our own or an attached one, without replayed blocks (the forked chain's
    own transactions move the lending pool too); a Morpho Blue market is deployed beside a market of our own, so an
    attached one is refused. Each refusal names the fix."""
    if replay:
        raise ValueError(
            "backend.replay_blocks replays a forked chain's blocks into the Uniswap V3 LP env; the lending envs do "
            "not replay: leave backend.replay_blocks at 0"
        )
    if book is not None and params.protocol == MORPHO_BLUE:
        raise ValueError(
            "lending.protocol=morpho_blue deploys its own Morpho Blue market: run it with backend.market=deploy"
        )


def one_moment_a_step(chain: Chain) -> None:
    """Mine a step's blocks at the step's timestamp, as the simulator's step is one moment: at the calibrated
    rates, interest over 12 s blocks would otherwise part the two by dollars a day on a levered position."""
    from envs.evm.anvil import AnvilChain
    from envs.evm.revm import PyrevmChain

    if isinstance(chain, PyrevmChain):
        chain.block_interval = 0
    elif isinstance(chain, AnvilChain):
        chain.rpc.request("anvil_setBlockTimestampInterval", [0])


def start_lending_clock(chain: Chain, params: LendingParams, attached: bool) -> None:
    """On a built market whose lending pool runs the calibrated rates, or on Morpho Blue's, a step's blocks are
    mined at one moment (``one_moment_a_step``); an attached market keeps the chain's own clock."""
    if not attached and (params.calibrated() is not None or params.protocol == MORPHO_BLUE):
        one_moment_a_step(chain)


def prepare_lending(
    market: Market,
    params: LendingParams,
    attached: bool,
    price: float,
    lp_agent: list[str],
    borrower: str,
    credit: Callable[[Token, str, int], None],
) -> MorphoBlue | None:
    """Once per build (the approvals are in the snapshot every episode starts from): on an attached market, WETH's
    oracle source becomes one that can follow the reference, set at ``price`` (the real feed cannot be moved:
    ``envs.contracts.oracle``); on a built one, Aave's reserves take the calibrated rate curves where ``params``
    names a calibration, and with ``protocol=morpho_blue`` a Morpho Blue market is deployed at ``price``; then the
    agents and the competitor may deal with Aave's Pool (and the borrower with the SwapRouter). Returns the Morpho
    Blue market, if any."""
    aave, tokens = market.aave, market.tokens
    if attached:
        control_price(aave, tokens["WETH"], round(price * BASE_UNIT))
    elif (calibration := params.calibrated()) is not None:
        curves = params.reserve_params()
        for symbol in calibration.reserves:
            aave.set_rate_curve(tokens[symbol], curves[symbol])
    traders = lp_agent + [ARBITRAGEUR, ARBITRAGEUR_AGENT, borrower]
    morpho = None
    if params.protocol == MORPHO_BLUE:
        morpho = deploy_market(tokens, price, params.lltv, params.supply_usd, traders, credit)
    for token in (tokens["USDC"], tokens["WETH"]):
        for who in traders:
            token.approve(who, aave.pool.address)
        token.approve(borrower, market.v3.router.address)
    return morpho


def chain_lending_pool(
    market: Market,
    morpho: MorphoBlue | None,
    borrower: str,
    address: Callable[[str], str],
    credit: Callable[[Token, str, int], None] | None,
) -> LendingPool:
    """The chain's lending pool component: the Morpho Blue market deployed beside the built one, or Aave's Pool."""
    if morpho is not None:
        return ChainMorphoBlueMarket(morpho, borrower, address, credit)
    return ChainAavePool(market.aave, market.tokens, borrower, address, credit)
