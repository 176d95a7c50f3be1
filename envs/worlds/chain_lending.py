"""A chain world's lending side (``ChainUniswapV3World(..., lending=...)``): the chain side of its protocol's lending
pool component (``envs.worlds.lending_protocols``: Aave V3's real Pool and AaveOracle, or a Morpho Blue market
deployed beside the built market), driven as the simulator drives its own (same price path, same borrowers, same
scripted liquidator), so the two can be compared step by step. The chain's clock moves ``dt`` a step (each step
starts at the simulator's time; its transactions then land in blocks of their own, 12 s apart)."""

from __future__ import annotations

from typing import Any, Callable

from envs.contracts.accounts import ARBITRAGEUR, ARBITRAGEUR_AGENT
from envs.contracts.market import Market
from envs.evm.chain import Chain
from envs.worlds.lending import AAVE_V3, LendingMarket, LendingParams, Venue
from envs.worlds.lending_pool import Credit, LendingPool
from envs.worlds.lending_protocols import PROTOCOLS


def check_chain_lending(params: LendingParams, book: dict | None, replay: bool) -> None:
    """A lending side runs on a market of our own or an attached one, without replayed blocks (the forked chain's
    own transactions move the lending pool too); a Morpho Blue market is deployed beside a market of our own, so an
    attached one is refused. Each refusal names the fix."""
    if replay:
        raise ValueError(
            "backend.replay_blocks replays a forked chain's blocks into the Uniswap V3 LP env; the lending envs do "
            "not replay: leave backend.replay_blocks at 0"
        )
    if book is not None and not PROTOCOLS[params.protocol].attachable:
        raise ValueError(
            f"lending.protocol={params.protocol} deploys its own market beside the built one: run it with "
            "backend.market=deploy"
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
    if not attached and PROTOCOLS[params.protocol].accrues(params):
        one_moment_a_step(chain)


def prepare_lending(
    market: Market,
    params: LendingParams,
    attached: bool,
    price: float,
    lp_agent: list[str],
    borrower: str,
    credit: Credit,
) -> Any:
    """Once per build (the approvals are in the snapshot every episode starts from): the protocol readies its pool
    at ``price`` (``LendingProtocol.prepare``: Aave's oracle made to follow the reference on an attached market, its
    calibrated rate curves on a built one; a Morpho Blue market deployed beside it); then the agents and the
    competitor may deal with Aave's Pool, and the borrower with the SwapRouter. Returns what the protocol's chain
    side needs (``chain_lending_pool``)."""
    traders = lp_agent + [ARBITRAGEUR, ARBITRAGEUR_AGENT, borrower]
    prepared = PROTOCOLS[params.protocol].prepare(market, params, attached, price, traders, credit)
    aave, tokens = market.aave, market.tokens
    for token in (tokens["USDC"], tokens["WETH"]):
        for who in traders:
            token.approve(who, aave.pool.address)
        token.approve(borrower, market.v3.router.address)
    return prepared


def chain_lending_pool(
    market: Market,
    params: LendingParams,
    prepared: Any,
    borrower: str,
    address: Callable[[str], str],
    credit: Credit | None,
) -> LendingPool:
    """The chain side of ``params.protocol``'s lending pool on ``market`` (and what ``prepare_lending`` returned)."""
    return PROTOCOLS[params.protocol].chain(market, prepared, borrower, address, credit)


class ChainLendingSides:
    """The lending sides a chain world holds (one per lending protocol, in order): checked and the chain's clock set
    when the world is made, each protocol readied once per build (``prepare``), and each bound to the market as a
    lending side over its chain component (``bind``)."""

    def __init__(self, sides: tuple[LendingParams, ...], book: dict | None, replay: bool):
        for side in sides:
            check_chain_lending(side, book, replay)
        self.sides, self.attached = sides, book is not None
        self.prepared: dict[str, Any] = {}  # what each protocol readied on the chain (a Morpho Blue market)

    def start_clock(self, chain: Chain) -> None:
        for side in self.sides:
            start_lending_clock(chain, side, self.attached)

    def supply_usd(self) -> float:
        """What the built market seeds each Aave reserve with: the Aave side's ``supply_usd``, else the default."""
        aave = [side for side in self.sides if side.protocol == AAVE_V3]
        return aave[0].supply_usd if aave else LendingParams.supply_usd

    def prepare(
        self,
        market: Market,
        price: float,
        lp_agent: list[str],
        borrower: str,
        credit: Credit,
    ) -> None:
        self.prepared = {
            side.protocol: prepare_lending(market, side, self.attached, price, lp_agent, borrower, credit)
            for side in self.sides
        }

    def bind(
        self,
        world: Venue,
        market: Market,
        borrower: str,
        address: Callable[[str], str],
        credit: Credit | None,
    ) -> tuple[LendingMarket, ...]:
        return tuple(
            LendingMarket(
                world,
                chain_lending_pool(market, side, self.prepared.get(side.protocol), borrower, address, credit),
                side,
                crowd=not self.attached,
            )
            for side in self.sides
        )
