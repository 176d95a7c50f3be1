"""Give an account an ERC20 balance by writing the token's storage, as forge's ``deal`` does.

On a fork of a real chain nobody may ``mint`` (USDC's minters are Circle's), so the balance slot is
found by probing: for each candidate slot of ``balanceOf[holder]`` (a Solidity mapping at slot
``i``: ``keccak(holder . i)``; a Vyper one: ``keccak(i . holder)``) write a marker value, read
``balanceOf(holder)``, and keep the slot whose marker comes back; every probe restores what it
wrote over. A proxy's storage is the proxy's own (delegatecall), so USDC's FiatTokenProxy is probed
at its own address like any token. Works on every :class:`Chain` (``anvil_setStorageAt`` on anvil,
the in-process storage write on pyrevm).
"""

from __future__ import annotations

from eth_utils import keccak

from envs.contracts.tokens import Token
from envs.evm.chain import Chain

MAX_SLOT = 64  # mapping slots tried, per layout (USDC's balances sit at slot 9, OpenZeppelin's at 0, WETH9's at 3)
_MARKER = 0x5EED_0F_DEA1_C0FFEE  # a balance no real account holds
LAYOUTS = ("solidity", "vyper")


class BalanceSlotNotFound(RuntimeError):
    """No candidate slot moved ``balanceOf``: the token keeps balances some other way (rebasing shares, ...)."""


def balance_key(holder: str, slot: int, layout: str) -> int:
    """The storage key of ``balanceOf[holder]`` for a mapping declared at ``slot``."""
    h, s = bytes(12) + bytes.fromhex(holder[2:]), slot.to_bytes(32, "big")
    return int.from_bytes(keccak(h + s if layout == "solidity" else s + h), "big")


def find_balance_slot(chain: Chain, token: Token, holder: str) -> tuple[int, str]:
    """(mapping slot, layout) of ``token``'s balances, found by probing ``holder``'s entry."""
    for slot in range(MAX_SLOT):
        for layout in LAYOUTS:
            key = balance_key(holder, slot, layout)
            old = chain.get_storage(token.address, key)
            chain.set_storage(token.address, key, _MARKER)
            try:
                found = token.balance_of(holder) == _MARKER
            finally:
                chain.set_storage(token.address, key, old)
            if found:
                return slot, layout
    raise BalanceSlotNotFound(
        f"{token.symbol} ({token.address}): no storage slot below {MAX_SLOT} holds balanceOf (tried Solidity and "
        f"Vyper mapping layouts). Fund the account another way: transfer from a holder impersonated on the fork "
        f"(anvil_impersonateAccount), or use a token whose balances are a plain mapping"
    )


class Dealer:
    """Sets ERC20 balances by storage writes, remembering each token's balance slot once found."""

    def __init__(self, chain: Chain):
        self.chain = chain
        self._slots: dict[str, tuple[int, str]] = {}

    def deal(self, token: Token, holder: str, raw: int) -> None:
        """Make ``holder``'s balance exactly ``raw`` (total supply is left as it is, as forge's ``deal`` does)."""
        if raw < 0:
            raise ValueError(f"cannot deal a negative balance of {token.symbol}: {raw}")
        address = token.address.lower()
        if address not in self._slots:
            self._slots[address] = find_balance_slot(self.chain, token, holder)
        slot, layout = self._slots[address]
        self.chain.set_storage(token.address, balance_key(holder, slot, layout), raw)
        if token.balance_of(holder) != raw:
            raise BalanceSlotNotFound(
                f"{token.symbol}: wrote {raw} at balance slot {slot} ({layout}) for {holder} "
                f"but balanceOf reads {token.balance_of(holder)}"
            )
