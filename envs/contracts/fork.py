"""Where a fork starts: check an RPC URL and a block before any node forks them, so a wrong URL, a
block past the head or a node that has pruned the block's state fails at once with its fix named,
instead of deep inside anvil or pyrevm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from envs.evm.chain import Chain, ChainError
from envs.evm.rpc import JsonRpc, RpcError

#: read at the fork block to prove its state is there (any address does: the zero address always answers)
_PROBE_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class ForkPoint:
    """The chain and block a fork starts from."""

    url: str
    chain_id: int
    block: int
    timestamp: int


def check_fork(url: str, block: int | None = None, timeout: float = 30.0) -> ForkPoint:
    """The chain id, block number and timestamp of ``url`` at ``block`` (its head when None); raises a
    :class:`ChainError` naming the fix when the URL does not answer, the block does not exist, or the
    node no longer holds the block's state (a pruned, non-archive node)."""
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 0):
        raise ValueError(f"backend.fork_block={block!r} must be a block number >= 0 (or null for the head)")
    rpc = JsonRpc(url, timeout=timeout)
    try:
        try:
            chain_id = int(rpc.request("eth_chainId"), 16)
            head = int(rpc.request("eth_blockNumber"), 16)
        except ChainError as err:
            raise ChainError(
                f"backend.fork_url={url} does not answer JSON-RPC ({err}). Check the URL, that the "
                f"node is running and reachable from here, and any API key in the URL."
            ) from None
        number = head if block is None else block
        if number > head:
            raise ChainError(
                f"backend.fork_block={number} is past the head of {url} (block {head}): pick a block "
                f"at or below {head}, or leave backend.fork_block out to fork the head"
            )
        try:
            header = rpc.request("eth_getBlockByNumber", [hex(number), False])
        except RpcError as err:
            header, reason = None, str(err)
        else:
            reason = "no such block"
        if header is None:
            raise ChainError(
                f"{url} does not serve block {number} ({reason}): it is not an archive node, or it "
                f"has pruned that block. Use an archive RPC, or a more recent backend.fork_block."
            )
        try:
            rpc.request("eth_getBalance", [_PROBE_ADDRESS, hex(number)])
        except RpcError as err:
            raise ChainError(
                f"{url} no longer holds the state at block {number} ({err.error.get('message', err)}): "
                f"the node is pruned, not an archive node. Fork an archive RPC, or a block recent "
                f"enough for this node (its head is {head})."
            ) from None
        return ForkPoint(url, chain_id, number, int(header["timestamp"], 16))
    finally:
        rpc.close()


def chain_factory(backend: str, fork_url: str | None, fork_block: int | None = None) -> Callable[[], Chain]:
    """A function that starts the backend's chain: fresh, or a fork of ``fork_url`` at ``fork_block``. The
    fork point is checked and pinned first, so pyrevm and anvil fork the very same block (and chain id)."""
    if fork_url is None and fork_block is not None:
        raise ValueError(f"backend.fork_block={fork_block} needs backend.fork_url (the RPC URL to fork)")
    point = check_fork(fork_url, fork_block) if fork_url is not None else None
    if backend == "evm":
        from envs.evm.revm import PyrevmChain

        if point is None:
            return PyrevmChain
        return lambda: _forked(PyrevmChain(fork_url=point.url, fork_block=point.block, chain_id=point.chain_id), point)
    if backend == "anvil":
        from envs.evm.anvil import AnvilChain

        if point is None:
            return AnvilChain
        return lambda: _forked(AnvilChain(fork_url=point.url, fork_block=point.block), point)
    raise ValueError(f"backend {backend!r} runs no chain: choose evm or anvil")


def _forked(chain: Chain, point: ForkPoint) -> Chain:
    """Note on the chain where it was forked from (reports name the fork point)."""
    chain.fork_point = point
    return chain


def load_attach_book(addresses: str | None, fork_url: str | None) -> dict | None:
    """The address book of attach mode (None: deploy mode), after checking attach mode can run."""
    if addresses is None:
        return None
    if fork_url is None:
        raise ValueError(
            f"backend.addresses={addresses!r} (attach mode) needs backend.fork_url: the node whose "
            f"contracts to attach to (an archive RPC of the book's chain, or a served local mainnet)"
        )
    from envs.contracts.address_book import address_book

    return address_book(addresses)
