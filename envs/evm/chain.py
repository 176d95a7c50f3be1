"""The one interface every EVM rung implements (pyrevm in-process, anvil or any node over JSON-RPC).

Deployment, the protocol wrappers, the state readers and the live adapter are written once
against :class:`Chain`; a backend only moves bytes in and out of an EVM.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Self

from envs.evm.abi import LogEntry

#: anvil's first development account (a well-known key, for local chains only)
DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
#: the chain id of anvil's local network; the pyrevm rung uses it too so addresses and signatures match
LOCAL_CHAIN_ID = 31337
#: a transaction deadline in the far future: the simulated chains' clocks never reach it
DEADLINE = 2**64
#: wei given for gas to an account that sends without a development key (impersonated, or a world's own)
GAS_ETH = 10**21


class ChainError(RuntimeError):
    """A chain could not be reached or did not behave as a node should."""


class TransactionReverted(RuntimeError):
    """A call or transaction reverted; ``reason`` is the decoded revert reason."""

    def __init__(self, reason: str, *, to: str | None = None, gas_used: int | None = None):
        super().__init__(f"reverted: {reason}" + (f" (to {to})" if to else ""))
        self.reason = reason
        self.gas_used = gas_used


@dataclass(frozen=True)
class Tx:
    sender: str
    to: str
    data: bytes
    value: int = 0


@dataclass
class TxResult:
    gas_used: int
    logs: list[LogEntry] = field(default_factory=list)
    #: the call's return data; on a JSON-RPC node only when asked for (it costs a second call)
    output: bytes | None = None


class Chain(ABC):
    """An EVM with its state: deploy, call, transact, move time, snapshot."""

    chain_id: int = LOCAL_CHAIN_ID
    #: where the chain was forked from (an envs.contracts.fork.ForkPoint), for reports; None on a fresh chain
    fork_point: object | None = None

    @abstractmethod
    def deploy(self, sender: str, code: bytes, value: int = 0) -> tuple[str, int]:
        """Run creation ``code``; return (address, gas used)."""

    @abstractmethod
    def call(self, to: str, data: bytes, sender: str = DEV_ACCOUNT) -> bytes:
        """Execute read-only against the latest state; raise TransactionReverted on revert."""

    @abstractmethod
    def transact(self, tx: Tx, *, output: bool = False) -> TxResult:
        """Execute and commit ``tx`` in its own block; raise TransactionReverted on revert."""

    def transact_batch(self, txs: list[Tx]) -> list[TxResult | TransactionReverted]:
        """Execute ``txs`` in order within one block; a reverted tx yields its error, the rest go on."""
        results: list[TxResult | TransactionReverted] = []
        for tx in txs:
            try:
                results.append(self.transact(tx))
            except TransactionReverted as err:
                results.append(err)
        return results

    @abstractmethod
    def snapshot(self) -> Any: ...

    @abstractmethod
    def revert(self, snapshot: Any) -> None: ...

    @abstractmethod
    def block_number(self) -> int: ...

    @abstractmethod
    def timestamp(self) -> int:
        """Timestamp of the latest block, in seconds."""

    @abstractmethod
    def advance_time(self, seconds: int) -> None:
        """Move the chain's clock forward (the next block is ``seconds`` later)."""

    @abstractmethod
    def get_balance(self, address: str) -> int: ...

    @abstractmethod
    def set_balance(self, address: str, wei: int) -> None: ...

    @abstractmethod
    def get_storage(self, address: str, slot: int) -> int: ...

    @abstractmethod
    def set_storage(self, address: str, slot: int, value: int) -> None: ...

    def get_code(self, address: str) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the chain holds (a node process, a connection)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
