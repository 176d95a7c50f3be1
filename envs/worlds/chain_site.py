"""The chain a world runs on, whatever its protocols (``ChainSite``, which every chain world holds): the chain, the
reference price path (a driver's, scaled to start at an attached pool's own price: ``ReferencePath``), the market
built at the start price (an episode from the same start reverts to it instead of building again) or attached from
an address book, accounts credited by minting (a market of our own) or by storage writes (an attached one: nobody may
mint a real chain's USDC), and the lending sides readied on it."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from envs.contracts.accounts import AGENT, ARBITRAGEUR, ARBITRAGEUR_AGENT, BORROWER_AGENT, NOISE
from envs.contracts.address_book import attach_book
from envs.contracts.balances import Dealer
from envs.contracts.market import Market, MarketSpec, build_market
from envs.drivers.base import PriceDriver
from envs.evm.chain import Chain
from envs.worlds.chain_lending import ChainLendingSides
from envs.worlds.lending import LendingMarket, LendingParams, Venue, lending_sides
from envs.worlds.lending_pool import AGENT as AGENT_WALLET
from envs.worlds.lending_pool import AGENT_LIQUIDATOR, BORROWER, COMPETITOR
from envs.worlds.market import AGENT_ARBITRAGE_WALLET, ARBITRAGEUR_WALLET, FLOW_WALLET, TRADER_WALLET
from envs.worlds.reference_path import ReferencePath

#: the account behind each named wallet of a world on a chain (a wallet slot, an int, has its own). Names that share
#: an account keep their books in their roles: the traders and the scripted competitor use the scripted
#: arbitrageur's account, the learning liquidator the arbitrage agent's.
WALLET_ACCOUNTS = {
    AGENT_WALLET: AGENT,  # the LP agent's (a V3 world's selected LP slot's: ``ChainUniswapV3World``)
    ARBITRAGEUR_WALLET: ARBITRAGEUR,
    FLOW_WALLET: NOISE,
    AGENT_ARBITRAGE_WALLET: ARBITRAGEUR_AGENT,
    TRADER_WALLET: ARBITRAGEUR,
    BORROWER: BORROWER_AGENT,
    AGENT_LIQUIDATOR: ARBITRAGEUR_AGENT,
    COMPETITOR: ARBITRAGEUR,
}


def wallet_account(wallet: str) -> str:
    """The account of a named wallet (``WALLET_ACCOUNTS``); an unknown name is a bug, not a new wallet."""
    if wallet not in WALLET_ACCOUNTS:
        raise ValueError(f"unknown wallet {wallet!r}: a chain world's named wallets are {list(WALLET_ACCOUNTS)}")
    return WALLET_ACCOUNTS[wallet]


class ChainSite:
    """The chain of one world (n = 1), made by ``make_chain()``; ``book`` (attach mode) names the market a fork
    already holds, and ``lending`` the lending sides the world holds beside its pool (``ChainLendingSides``;
    ``replay``: whether the world re-sends a fork's blocks, which a lending side refuses). The world that holds it
    says what its market holds (``build_market``'s spec), how its traders are funded and, attached, which price its
    path starts at: ``start_built`` and ``start_attached`` take them."""

    market: Market

    def __init__(
        self,
        make_chain: Callable[[], Chain],
        driver: PriceDriver,
        book: dict | None,
        lending: LendingParams | Sequence[LendingParams] | None = None,
        replay: bool = False,
    ):
        self.lending_sides = ChainLendingSides(lending_sides(lending), book, replay)  # refused before a chain starts
        self.path, self.book = ReferencePath(driver), book
        self.chain = make_chain()
        self.lending_sides.start_clock(self.chain)
        self._empty = self._built = None  # snapshots: the chain before any market, and the built market
        self._built_price: float | None = None
        self.fork_block = self.chain.block_number()  # the block the world starts from (a fork's block)
        self._dealer = Dealer(self.chain)

    def close(self) -> None:
        self.chain.close()

    def credit(self, token, who: str, raw: int) -> None:
        """Give ``who`` ``raw`` more of ``token``: minted on a market of our own, written by storage on an
        attached one."""
        if self.book is None:
            token.mint(who, raw)
        else:
            self._dealer.deal(token, who, token.balance_of(who) + raw)

    def prepare_lending(self, lp_agent: list[str]) -> None:
        """Once per build: each lending protocol readies its pool for the accounts that deal with it (the LP agents
        ``lp_agent``, the arbitrageurs and the borrower agent: ``ChainLendingSides.prepare``)."""
        traders = lp_agent + [ARBITRAGEUR, ARBITRAGEUR_AGENT, BORROWER_AGENT]
        self.lending_sides.prepare(self.market, self.start_price(), traders, self.credit)

    def bind_lending(self, venue: Venue, address: Callable[[str], str]) -> tuple[LendingMarket, ...]:
        """The lending sides over this episode's market, trading through ``venue`` (the world's pool)."""
        return self.lending_sides.bind(venue, self.market, BORROWER_AGENT, address, self.credit)

    def start(
        self,
        rng: np.random.Generator,
        spec: Callable[[float], MarketSpec],
        attached_price: Callable[[], float],
        fund: Callable[[], None],
    ) -> float:
        """An episode's market: built from ``spec`` (``start_built``), or the book's attached (``start_attached``,
        its path starting at ``attached_price()``); ``fund`` funds its traders once. Returns the start price."""
        if self.book is None:
            return self.start_built(rng, spec, fund)
        return self.start_attached(rng, attached_price, fund)

    def start_built(
        self, rng: np.random.Generator, spec: Callable[[float], MarketSpec], fund: Callable[[], None]
    ) -> float:
        """A market of our own at the driver's start price: built from ``spec(price)`` and its traders funded
        (``fund``, once per build), or reverted to where this start price was built before. Returns the start
        price."""
        price = float(self.path.reset(rng, 1)[0])
        if price == self._built_price:  # the same start: back to the freshly built market
            self.chain.revert(self._built)
        else:
            if self._empty is not None:
                self.chain.revert(self._empty)
            self._empty = self.chain.snapshot()
            self.market = build_market(self.chain, spec(price))
            fund()
            self._built_price = price
        self._built = self.chain.snapshot()  # a snapshot is spent when reverted to (anvil): take a fresh one
        return price

    def start_attached(
        self, rng: np.random.Generator, attached_price: Callable[[], float], fund: Callable[[], None]
    ) -> float:
        """The book's market on the fork, its traders funded once (``fund``); every episode reverts to that state,
        and the driver's path is scaled to start at ``attached_price()`` (the pool's own price, read once). Returns
        that price."""
        if self.book is None:
            raise RuntimeError("attach mode runs on an address book (book=...)")
        self.path.reset(rng, 1)
        if self._built is None:
            self.market = attach_book(self.chain, self.book, self.fork_block)
            self._anchor = attached_price()
            fund()
        else:
            self.chain.revert(self._built)
        self._built = self.chain.snapshot()
        self.path.start_at(self._anchor)
        return self._anchor

    def start_price(self) -> float:
        """The price the market this episode started on stands at: an attached pool's own, or the path's start."""
        return self._anchor if self.book is not None else float(self.path.now[0])

    def provenance(self) -> dict:
        """What the world ran on, for reports: deployed or attached, the book, the chain id, the block it started
        from (a fork's)."""
        return {
            "market": "deploy" if self.book is None else "attach",
            "addresses": None if self.book is None else self.book.get("name"),
            "chain_id": self.chain.chain_id,
            "fork_block": self.fork_block if getattr(self.chain, "fork_point", None) else None,
        }
