"""A chain world's lending side (``ChainUniswapV3World(..., lending=...)``): the chain side of its protocol's lending
pool component (``envs.worlds.lending_protocols``: Aave V3's real Pool and AaveOracle, or a Morpho Blue market
deployed beside the built market), driven as the simulator drives its own (same price path, same borrowers, same
scripted liquidator), so the two can be compared step by step. The chain's clock moves ``dt`` a step (each step
starts at the simulator's time; its transactions then land in blocks of their own, 12 s apart)."""

from __future__ import annotations

from typing import Any, Callable

from envs.contracts.market import Market
from envs.evm.chain import Chain
from envs.worlds.lending import AAVE_V3, LendingMarket, LendingParams, Venue
from envs.worlds.lending_pool import Credit
from envs.worlds.lending_protocols import PROTOCOLS


def one_moment_a_step(chain: Chain) -> None:
    """Mine a step's blocks at the step's timestamp, as the simulator's step is one moment: at the calibrated
    rates, interest over 12 s blocks would otherwise part the two by dollars a day on a levered position."""
    from envs.evm.anvil import AnvilChain
    from envs.evm.revm import PyrevmChain

    if isinstance(chain, PyrevmChain):
        chain.block_interval = 0
    elif isinstance(chain, AnvilChain):
        chain.rpc.request("anvil_setBlockTimestampInterval", [0])


class ChainLendingSides:
    """The lending sides a chain world holds (one per lending protocol, in order): checked when the world is made,
    each protocol readied once per build (``prepare``), and each bound to the market as a lending side over its
    chain component (``bind``)."""

    def __init__(self, sides: tuple[LendingParams, ...], book: dict | None, replay: bool):
        """Each side runs on a market of our own or an attached one, without replayed blocks (the forked chain's own
        transactions move the lending pool too); a protocol deployed beside a market of our own (Morpho Blue) is
        refused on an attached one. Each refusal names the fix."""
        if sides and replay:
            raise ValueError(
                "backend.replay_blocks replays a forked chain's blocks into the Uniswap V3 LP env; the lending envs "
                "do not replay: leave backend.replay_blocks at 0"
            )
        for side in sides:
            if book is not None and not PROTOCOLS[side.protocol].attachable:
                raise ValueError(
                    f"lending.protocol={side.protocol} deploys its own market beside the built one: run it with "
                    "backend.market=deploy"
                )
        self.sides, self.attached = sides, book is not None
        self.prepared: dict[str, Any] = {}  # what each protocol readied on the chain (a Morpho Blue market)

    def start_clock(self, chain: Chain) -> None:
        """On a built market where a side's interest accrues (Aave's calibrated rates, Morpho Blue's), a step's
        blocks are mined at one moment (``one_moment_a_step``); an attached market keeps the chain's own clock."""
        if not self.attached and any(PROTOCOLS[side.protocol].accrues(side) for side in self.sides):
            one_moment_a_step(chain)

    @property
    def route(self) -> bool:
        """Whether a side routes its swaps among the world's pools (``LendingParams.route``)."""
        return any(side.route for side in self.sides)

    def supply_usd(self) -> float:
        """What the built market seeds each Aave reserve with: the Aave side's ``supply_usd``, else the default."""
        aave = [side for side in self.sides if side.protocol == AAVE_V3]
        return aave[0].supply_usd if aave else LendingParams.supply_usd

    def prepare(self, market: Market, price: float, traders: list[str], credit: Credit) -> None:
        """Once per build (what it does is in the snapshot every episode starts from): each protocol readies its
        pool at ``price`` for the accounts that will deal with it (``LendingProtocol.prepare``: Aave's approvals,
        its oracle made to follow the reference on an attached market, its calibrated rate curves on a built one; a
        Morpho Blue market deployed beside it)."""
        self.prepared = {
            side.protocol: PROTOCOLS[side.protocol].prepare(market, side, self.attached, price, traders, credit)
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
        """Each side over the chain side of its protocol's pool on ``market``, trading through ``world``."""
        return tuple(
            LendingMarket(
                world,
                PROTOCOLS[side.protocol].chain(market, self.prepared.get(side.protocol), borrower, address, credit),
                side,
                crowd=not self.attached,
            )
            for side in self.sides
        )
