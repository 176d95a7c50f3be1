"""The ``evm`` rung: pyrevm, an in-process EVM running the protocols' real bytecode.

Blocks are modelled the way anvil mines them here: every transaction is mined in a block of
its own, ``block_interval`` seconds after the previous one (12 s, as on mainnet), and
``advance_time`` mines an empty block. Reads execute against the latest block.
"""

from __future__ import annotations

import re

import pyrevm

from envs.evm.abi import LogEntry, decode_revert
from envs.evm.chain import DEV_ACCOUNT, LOCAL_CHAIN_ID, Chain, ChainError, TransactionReverted, Tx, TxResult

GENESIS_TIMESTAMP = 1_700_000_000  # seconds; the local chains start here on every rung
BLOCK_INTERVAL = 12  # seconds between blocks, as on Ethereum mainnet since the Merge
_DEV_BALANCE = 10_000 * 10**18  # wei, what anvil gives each development account
_REVERT_OUTPUT = re.compile(r"output: (0x[0-9a-fA-F]*)")
_GAS_USED = re.compile(r"gas_used: (\d+)")


class PyrevmChain(Chain):
    """An in-process EVM, fresh or forked from any JSON-RPC URL at a block."""

    def __init__(
        self,
        fork_url: str | None = None,
        fork_block: int | None = None,
        chain_id: int = LOCAL_CHAIN_ID,
        block_interval: int = BLOCK_INTERVAL,
    ):
        self.chain_id = chain_id
        self.block_interval = block_interval
        if fork_url is None:
            number, ts = 0, GENESIS_TIMESTAMP
        else:
            number, ts = _fork_head(fork_url, fork_block)
        env = pyrevm.Env(
            cfg=pyrevm.CfgEnv(chain_id=chain_id),
            block=pyrevm.BlockEnv(number=number, timestamp=ts, gas_limit=30_000_000),
        )
        try:
            self.evm = pyrevm.EVM(
                env=env,
                fork_url=fork_url,
                fork_block=None if fork_block is None else str(fork_block),
                spec_id="SHANGHAI",
            )
        except BaseException as err:  # pyrevm raises bare runtime errors for an unreachable fork
            raise ChainError(
                f"cannot fork {fork_url} at block {fork_block}: {err}. "
                f"Check that the RPC URL is reachable and the block exists."
            ) from err
        self._number, self._timestamp = number, ts
        if fork_url is None:
            self.evm.set_balance(DEV_ACCOUNT, _DEV_BALANCE)

    # --- blocks -----------------------------------------------------------------------------
    def _set_block(self, number: int, timestamp: int) -> None:
        self._number, self._timestamp = number, timestamp
        self.evm.set_block_env(pyrevm.BlockEnv(number=number, timestamp=timestamp, gas_limit=30_000_000))

    def _next_block(self) -> None:
        self._set_block(self._number + 1, self._timestamp + self.block_interval)

    def block_number(self) -> int:
        return self._number

    def timestamp(self) -> int:
        return self._timestamp

    def advance_time(self, seconds: int) -> None:
        if seconds < 0:
            raise ValueError(f"cannot move time backwards by {seconds} s")
        self._set_block(self._number + 1, self._timestamp + int(seconds))

    # --- execution --------------------------------------------------------------------------
    def deploy(self, sender: str, code: bytes, value: int = 0) -> tuple[str, int]:
        self._next_block()
        try:
            address = self.evm.deploy(sender, code, value=value or None)
        except RuntimeError as err:
            raise _reverted(err) from None
        return address, self._result().gas_used

    def call(self, to: str, data: bytes, sender: str = DEV_ACCOUNT) -> bytes:
        # Like eth_call: executed (not static: QuoterV2 runs a swap and reverts it), then discarded.
        snap = self.evm.snapshot()
        try:
            return bytes(self.evm.message_call(sender, to, data))
        except RuntimeError as err:
            raise _reverted(err, to) from None
        finally:
            self.evm.revert(snap)

    def transact(self, tx: Tx, *, output: bool = False) -> TxResult:
        self._next_block()
        return self._execute(tx)

    def transact_batch(self, txs: list[Tx]) -> list[TxResult | TransactionReverted]:
        self._next_block()
        results: list[TxResult | TransactionReverted] = []
        for tx in txs:
            try:
                results.append(self._execute(tx))
            except TransactionReverted as err:
                results.append(err)
        return results

    def _execute(self, tx: Tx) -> TxResult:
        evm = self.evm
        code = evm.get_code(tx.sender)  # None for an account without code (the usual sender)
        if code:  # a contract as sender, as anvil_impersonateAccount allows: revm rejects it (EIP-3607), so its
            self._set_code(tx.sender, b"")  # code is set aside for the call (a call back into it sees none)
        try:
            out = evm.message_call(tx.sender, tx.to, tx.data, value=tx.value or None)
        except RuntimeError as err:
            raise _reverted(err, tx.to) from None
        finally:
            if code:
                self._set_code(tx.sender, bytes(code))
        result = self._result()
        # Log.data is (topics as bytes, data): the same bytes as parsing Log.topics' hex strings, without the parse
        logs = [LogEntry(lg.address, *lg.data) for lg in result.logs]
        return TxResult(gas_used=result.gas_used, logs=logs, output=out)

    def _result(self) -> pyrevm.ExecutionResult:
        """The last execution's result (pyrevm holds one after every deploy and transact)."""
        result = self.evm.result
        if result is None:
            raise ChainError("pyrevm reported no result for the execution it just ran")
        return result

    # --- state ------------------------------------------------------------------------------
    def snapshot(self) -> tuple:
        return self.evm.snapshot(), self._number, self._timestamp

    def revert(self, snapshot: tuple) -> None:
        checkpoint, number, ts = snapshot
        self.evm.revert(checkpoint)
        self._set_block(number, ts)

    def get_balance(self, address: str) -> int:
        return self.evm.get_balance(address)

    def set_balance(self, address: str, wei: int) -> None:
        self.evm.set_balance(address, wei)

    def get_storage(self, address: str, slot: int) -> int:
        return self.evm.storage(address, slot)

    def set_storage(self, address: str, slot: int, value: int) -> None:
        self.evm.insert_account_storage(address, slot, value)

    def get_code(self, address: str) -> bytes:
        return bytes(self.evm.get_code(address) or b"")

    def _set_code(self, address: str, code: bytes) -> None:
        """Replace an account's code, keeping its balance, nonce and storage."""
        info = self.evm.basic(address)
        self.evm.insert_account_info(
            address,
            pyrevm.AccountInfo(  # type: ignore[call-arg]  # the stub omits balance=
                balance=info.balance, nonce=info.nonce, code=code
            ),
        )


def _reverted(err: RuntimeError, to: str | None = None) -> TransactionReverted:
    text = str(err)
    match = _REVERT_OUTPUT.search(text)
    gas = _GAS_USED.search(text)
    reason = decode_revert(bytes.fromhex(match.group(1)[2:])) if match else text
    return TransactionReverted(reason, to=to, gas_used=int(gas.group(1)) if gas else None)


def _fork_head(url: str, block: int | None) -> tuple[int, int]:
    """Number and timestamp of the block to fork at, read over JSON-RPC."""
    from envs.evm.rpc import JsonRpc

    header = JsonRpc(url).request("eth_getBlockByNumber", [hex(block) if block is not None else "latest", False])
    if header is None:
        raise ChainError(f"block {block} does not exist on {url}; pick a block at or below the chain head")
    return int(header["number"], 16), int(header["timestamp"], 16)
