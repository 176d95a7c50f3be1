"""The world's accounts and what each holds of the market's two tokens, USDC and WETH (raw units, (N,) float64):
the one place a world keeps a wallet. An account is a wallet slot (an int: an LP agent's, a scripted trader's) or a
name (the borrower's, the V2 LP's, a scripted account's).

On the simulator the ledger books each account it opened; the protocol components return what they moved and the
world books it here (``moved``); an account it never opened (the arbitrageur's, the flow's: unbounded) is booked by
nobody. On a chain the ledger is the chain: an account holds its ERC20 balances, the protocols' own transfers move
them, and only moves off the market (capital held back, an off-pool exchange, funding) touch the tokens here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from envs.contracts.tokens import Token
from envs.units import held_amount

Account = int | str
#: where what leaves the market on a chain goes (an off-pool sale, capital held back)
OFF_MARKET = "0x000000000000000000000000000000000000dEaD"


class Ledger(ABC):
    """Every account's (USDC, WETH) in N worlds, raw."""

    @abstractmethod
    def balances(self, account: Account) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) ``account`` holds."""

    def open(self, account: Account, usdc_raw: np.ndarray | float, weth_raw: np.ndarray | float) -> None:
        """``account`` holds these amounts from now on: a ledger that books the accounts opens it; on a chain an
        account holds what its tokens say."""

    def moved(self, account: Account, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        """What a protocol moved into (+) or out of (-) ``account``: a ledger that books the accounts books it; on a
        chain the tokens themselves moved."""

    @abstractmethod
    def shift(self, account: Account, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        """Signed amounts into or out of ``account`` off the market (no protocol moves them)."""


class SimLedger(Ledger):
    """The accounts' balances as arrays, each opened with what it starts with."""

    def __init__(self, n: int):
        self.n = n
        self._held: dict[Account, tuple[np.ndarray, np.ndarray]] = {}

    def open(self, account: Account, usdc_raw: np.ndarray | float, weth_raw: np.ndarray | float) -> None:
        """``account`` holds these amounts from now on (broadcast to the N worlds)."""
        self._held[account] = (
            np.broadcast_to(np.asarray(usdc_raw, dtype=float), (self.n,)).copy(),
            np.broadcast_to(np.asarray(weth_raw, dtype=float), (self.n,)).copy(),
        )

    @property
    def accounts(self) -> list[Account]:
        """The accounts opened, in order."""
        return list(self._held)

    def _account(self, account: Account) -> tuple[np.ndarray, np.ndarray]:
        if account not in self._held:
            raise KeyError(f"the ledger holds no account {account!r}: open it first (accounts: {list(self._held)})")
        return self._held[account]

    def balances(self, account):
        usdc, weth = self._account(account)
        return usdc.copy(), weth.copy()

    def moved(self, account, usdc_raw, weth_raw):
        """Books an opened account; a named account never opened is an unbounded trader, booked by nobody; a slot
        never opened is a bug (KeyError)."""
        if account in self._held or isinstance(account, int):
            self.shift(account, usdc_raw, weth_raw)

    def shift(self, account, usdc_raw, weth_raw):
        usdc, weth = self._account(account)  # an account the ledger does not hold is a bug here
        self._held[account] = (usdc + usdc_raw, weth + weth_raw)


class ChainLedger(Ledger):
    """The accounts on a chain: ``address(account)``'s ERC20 balances of ``usdc`` and ``weth``. Off the market, what
    leaves an account goes to ``OFF_MARKET`` (no more than it holds) and what comes in is given by ``credit`` (minted
    on a market of our own, written by storage on a fork; None: a live chain, where nobody gives anything)."""

    def __init__(
        self,
        usdc: Token,
        weth: Token,
        address: Callable[..., str],
        credit: Callable[[Token, str, int], None] | None,
    ):
        self.usdc, self.weth, self.address, self.credit = usdc, weth, address, credit

    def balances(self, account):
        who = self.address(account)
        return np.array([float(self.usdc.balance_of(who))]), np.array([float(self.weth.balance_of(who))])

    def shift(self, account, usdc_raw, weth_raw):
        """Nothing moves off the market on a live chain (no ``credit``): its accounts' tokens are their owners'."""
        if self.credit is None and (abs(float(usdc_raw[0])) >= 1 or abs(float(weth_raw[0])) >= 1):
            raise RuntimeError(
                f"a live account's tokens move only through the protocols: asked to move ({usdc_raw[0]:g} USDC, "
                f"{weth_raw[0]:g} WETH) raw off the market; a live account is funded by its owner, not by the adapter"
            )
        who = self.address(account)
        for token, raw in ((self.usdc, float(usdc_raw[0])), (self.weth, float(weth_raw[0]))):
            if raw < 0 and (amount := held_amount(-raw, token.balance_of(who))) > 0:
                token.contract.transact("transfer", OFF_MARKET, amount, sender=who)
            elif raw >= 1 and self.credit is not None:
                self.credit(token, who, int(raw))
