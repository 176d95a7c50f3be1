"""Re-send a chain's own transactions of the blocks after a fork point into the fork, block by block,
so an agent on the fork acts among what really happened next (``backend.replay_blocks``). With the
agent's priority fee given, the transactions of a step's first block that paid more go before the
agent's (``ahead_of``), the rest after, as a block builder orders by priority fee.

On a node over JSON-RPC the original signed transaction is re-sent (``eth_getRawTransactionByHash``,
``eth_sendRawTransaction``: same hash, same sender, same nonce); where the source does not give it
or the fork refuses it (a nonce the world's own transactions used, a fee under the fork's base
fee), and always on pyrevm, the same call is sent from the impersonated sender. A transaction that
reverted on the chain reverts on the fork too; it is recorded, not raised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from envs.evm.chain import Chain, ChainError, TransactionReverted, Tx
from envs.evm.rpc import JsonRpc, RpcChain, RpcError


@dataclass(frozen=True)
class Replayed:
    """One historical transaction as the fork ran it."""

    block: int  # its block on the source chain
    hash: str  # its hash on the source chain
    sender: str
    raw: bool  # re-sent signed as it was (else from the impersonated sender)
    ok: bool  # succeeded on the fork


def priority_fee(tx: dict, base_fee: int) -> int:
    """What a transaction paid the block builder per gas above the block's base fee (EIP-1559 or legacy)."""
    if tx.get("maxPriorityFeePerGas") is not None:
        return min(int(tx["maxPriorityFeePerGas"], 16), int(tx["maxFeePerGas"], 16) - base_fee)
    return int(tx.get("gasPrice") or "0x0", 16) - base_fee


class BlockReplayer:
    """Replays the blocks after ``fork_block`` of the chain at ``source_url`` into ``chain``, in order."""

    def __init__(self, source_url: str, chain: Chain, fork_block: int, timeout: float = 30.0):
        self.rpc = JsonRpc(source_url, timeout=timeout)
        self.chain, self.fork_block, self.timeout = chain, fork_block, timeout
        self.next_block = fork_block + 1
        self.head = int(self.rpc.request("eth_blockNumber"), 16)
        self._rest: list[dict] | None = None  # the next block's transactions not yet sent (see ahead_of)

    def rewind(self) -> None:
        """Start again from the block after the fork point (a new episode on the reverted fork)."""
        self.next_block = self.fork_block + 1
        self._rest = None

    def ahead_of(self, tip_wei: int) -> list[Replayed]:
        """Send the next block's transactions that paid a higher priority fee than ``tip_wei`` (a block
        builder orders them before a transaction paying ``tip_wei``); the rest go with ``replay``."""
        self.check_available(1)
        block = self._block(self.next_block)
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        ahead = [tx for tx in block["transactions"] if priority_fee(tx, base) > tip_wei]
        self._rest = [tx for tx in block["transactions"] if priority_fee(tx, base) <= tip_wei]
        return [self._send(self.next_block, tx) for tx in ahead]

    def check_available(self, blocks: int) -> None:
        """Raise unless the source holds ``blocks`` more blocks after the ones replayed so far."""
        last = self.next_block + blocks - 1
        if last > self.head:
            raise ValueError(
                f"backend.replay_blocks: block {last} is needed but the chain's head is block "
                f"{self.head} ({self.head - self.fork_block} blocks after the fork block "
                f"{self.fork_block}); fork an earlier block (backend.fork_block), or lower "
                f"backend.replay_blocks or env.horizon"
            )

    def replay(self, blocks: int) -> list[Replayed]:
        """Send every transaction of the next ``blocks`` blocks, in their order."""
        self.check_available(blocks)
        out: list[Replayed] = []
        for number in range(self.next_block, self.next_block + blocks):
            if number == self.next_block and self._rest is not None:  # what ahead_of left of this block
                txs, self._rest = self._rest, None
            else:
                txs = self._block(number)["transactions"]
            out += [self._send(number, tx) for tx in txs]
        self.next_block += blocks
        return out

    def _block(self, number: int) -> dict:
        block = self.rpc.request("eth_getBlockByNumber", [hex(number), True])
        if block is None:
            raise ChainError(f"the source chain does not serve block {number}: replaying needs an archive node")
        return block

    def _send(self, number: int, tx: dict) -> Replayed:
        sender = tx["from"]
        if isinstance(self.chain, RpcChain):
            status = self._send_raw(self.chain, tx["hash"])
            if status is not None:
                return Replayed(number, tx["hash"], sender, True, status)
        data, value = bytes.fromhex(tx["input"][2:]), int(tx["value"], 16)
        try:
            if tx["to"] is None:
                self.chain.deploy(sender, data, value)
            else:
                self.chain.transact(Tx(sender, tx["to"], data, value))
        except TransactionReverted:
            return Replayed(number, tx["hash"], sender, False, False)
        return Replayed(number, tx["hash"], sender, False, True)

    def _send_raw(self, chain: RpcChain, tx_hash: str) -> bool | None:
        """Re-send the signed transaction; its success, or None when it cannot be sent as it was."""
        try:
            raw = self.rpc.request("eth_getRawTransactionByHash", [tx_hash])
            if not raw or raw == "0x":
                return None
            sent = chain.rpc.request("eth_sendRawTransaction", [raw])
        except RpcError:
            return None
        deadline = time.monotonic() + self.timeout
        while (receipt := chain.rpc.request("eth_getTransactionReceipt", [sent])) is None:
            if time.monotonic() > deadline:
                raise ChainError(
                    f"replayed transaction {tx_hash} was not mined within {self.timeout:.0f} s: "
                    f"is automine off on the fork?"
                )
            time.sleep(0.002)
        return int(receipt["status"], 16) == 1

    def close(self) -> None:
        self.rpc.close()
