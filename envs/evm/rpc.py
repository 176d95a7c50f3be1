"""Any Ethereum node over JSON-RPC as a :class:`Chain`: plain HTTP, no per-call gas estimation.

Transactions go out as ``eth_sendTransaction`` from unlocked (or impersonated) accounts with a
fixed gas limit, so this is for development nodes (anvil, a fork). Signing for a live chain is
the live adapter's job.
"""

from __future__ import annotations

import http.client
import itertools
import json
import select
import socket
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from envs.evm.abi import LogEntry, decode_revert
from envs.evm.chain import Chain, ChainError, TransactionReverted, Tx, TxResult

TX_GAS_LIMIT = 15_000_000  # gas; fixed so nothing is estimated per call (blocks hold 30M)


class TransportError(ChainError):
    """The node could not be reached or answered no JSON-RPC (connection refused, timeout, HTTP 5xx or 429):
    the one kind of failure worth reconnecting or failing over for."""


#: hosts served by the lean keep-alive transport: a node on this machine needs no proxy, TLS or connection pool
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class _LoopbackHttp:
    """One keep-alive HTTP/1.1 connection to a node on this machine: a request leaves in one segment (Nagle off)
    and the reply is read by Content-Length, chunks or close, without http.client's header parsing."""

    def __init__(self, host: str, port: int, path: str, timeout: float):
        self.address, self.timeout = (host, port), timeout
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\nContent-Length: "
        ).encode()
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._idle = select.poll()
        self._lock = threading.Lock()  # one request at a time on the one connection, whichever thread sends

    def post(self, body: bytes) -> "_Reply":
        with self._lock:
            sock = self._sock
            if sock is not None and self._idle.poll(0):
                self.close()  # readable while idle: the node hung up (or sent stray bytes); start afresh
                sock = None
            if sock is None:
                sock = self._sock = socket.create_connection(self.address, self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._reader = sock.makefile("rb")
                self._idle.register(sock, select.POLLIN)
            try:
                sock.sendall(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
                return self._read_reply()
            except BaseException:
                self.close()
                raise

    def _read_reply(self) -> "_Reply":
        reader = self._reader
        status_line = reader.readline(65537)
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise http.client.BadStatusLine(repr(status_line))
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep_alive = parts[0] == b"HTTP/1.1"
        while (line := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.endswith(b"chunked")
            elif name == b"connection":
                keep_alive = value == b"keep-alive" or (keep_alive and value != b"close")
        if chunked:
            pieces = []
            while (size := int(reader.readline(65537).split(b";")[0], 16)) > 0:
                pieces.append(self._read_exactly(size))
                reader.readline(65537)
            while reader.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            content = b"".join(pieces)
        elif length is not None:
            content = self._read_exactly(length)
        else:
            content, keep_alive = reader.read(), False  # delimited by the node closing the connection
        if not keep_alive:
            self.close()
        return _Reply(status, content)

    def _read_exactly(self, n: int) -> bytes:
        data = self._reader.read(n)
        if len(data) != n:
            raise http.client.IncompleteRead(data, n - len(data))
        return data

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._sock is not None:
            self._idle.unregister(self._sock)
            self._sock.close()
        self._sock = self._reader = None


class _Reply:
    """What the transports hand back: the HTTP status and the body."""

    __slots__ = ("status_code", "content")

    def __init__(self, status_code: int, content: bytes):
        self.status_code, self.content = status_code, content

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


#: JSON-RPC error codes a node gives while busy or briefly behind (EIP-1474: -32005 limit exceeded; -32603 internal
#: error, which nodes also give for a state that is not there yet); any other error answers the request itself
TRANSIENT_CODES = frozenset({-32005, -32603})


class RpcError(ChainError):
    """The node answered a JSON-RPC request with an error."""

    def __init__(self, method: str, error: dict):
        super().__init__(f"{method} failed: {error.get('message', error)}")
        self.method, self.error = method, error

    @property
    def transient(self) -> bool:
        """Worth asking again later (rate limit, node busy); else the same request will fail the same way."""
        return self.error.get("code") in TRANSIENT_CODES


class JsonRpc:
    """A keep-alive JSON-RPC client that names the URL and the fix when the node can't be reached."""

    def __init__(self, url: str, timeout: float = 30.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"RPC URL {url!r} must start with http:// or https:// (e.g. http://127.0.0.1:8545)")
        self.url, self.timeout = url, timeout
        #: called when the node can't be reached; returns a sentence on why (e.g. "anvil died")
        self.diagnose: Callable[[], str | None] = lambda: None
        self._ids = itertools.count(1)
        parts = urlsplit(url)
        #: a node on this machine (anvil) gets one raw keep-alive connection: requests' layers cost ~1.3 ms a call
        self._local: _LoopbackHttp | None = None
        self._session: requests.Session | None = None
        if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            self._local = _LoopbackHttp(parts.hostname, parts.port or 80, path, timeout)
        else:
            self._session = requests.Session()

    def _post(self, payload: Any) -> Any:
        try:
            response = (
                self._local.post(json.dumps(payload).encode())
                if self._local is not None
                else self._send_remote(payload)
            )
        except (requests.RequestException, OSError, http.client.HTTPException) as err:
            raise TransportError(
                self.diagnose()
                or f"cannot reach the node at {self.url}: {err.__class__.__name__}. "
                f"Check the URL and that the node is running."
            ) from err
        if response.status_code == 429 or response.status_code >= 500:
            raise TransportError(f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code != 200:
            raise ChainError(f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            return json.loads(response.content)
        except ValueError:
            raise TransportError(f"{self.url} answered something that is not JSON: {response.text[:200]!r}") from None

    def _send_remote(self, payload: Any) -> _Reply:
        assert self._session is not None
        response = self._session.post(self.url, json=payload, timeout=self.timeout)
        return _Reply(response.status_code, response.content)

    def request(self, method: str, params: list | None = None) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []})
        if "error" in reply:
            raise RpcError(method, reply["error"])
        return reply["result"]

    def batch(self, calls: list[tuple[str, list]]) -> list[Any]:
        """Several requests in one HTTP round trip; results (or RpcError instances) in order."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        replies = {r["id"]: r for r in self._post(payload)}
        return [
            RpcError(calls[i][0], replies[first + i]["error"])
            if "error" in replies[first + i]
            else replies[first + i]["result"]
            for i in range(len(calls))
        ]

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        if self._session is not None:
            self._session.close()


def _tx_params(tx: Tx) -> dict:
    params = {"from": tx.sender, "to": tx.to, "data": "0x" + tx.data.hex(), "gas": hex(TX_GAS_LIMIT)}
    if tx.value:
        params["value"] = hex(tx.value)
    return params


def _logs(receipt: dict) -> list[LogEntry]:
    return [
        LogEntry(lg["address"], [bytes.fromhex(t[2:]) for t in lg["topics"]], bytes.fromhex(lg["data"][2:]))
        for lg in receipt["logs"]
    ]


class RpcChain(Chain):
    """A development node reached over JSON-RPC (anvil's ``anvil_*``/``evm_*`` methods for time and state)."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.rpc = JsonRpc(url, timeout)
        self.url = url
        self.chain_id = int(self.rpc.request("eth_chainId"), 16)
        self._impersonated: set[str] = set()
        try:
            self._unlocked = {a.lower() for a in self.rpc.request("eth_accounts")}
        except RpcError:  # public nodes hold no accounts and some refuse the method
            self._unlocked = set()
        self._sync_send = True

    def _ensure_can_send(self, sender: str) -> None:
        key = sender.lower()
        if key not in self._unlocked and key not in self._impersonated:
            self.rpc.request("anvil_impersonateAccount", [sender])
            self._impersonated.add(key)

    # --- execution --------------------------------------------------------------------------
    def deploy(self, sender: str, code: bytes, value: int = 0) -> tuple[str, int]:
        self._ensure_can_send(sender)
        params = {"from": sender, "data": "0x" + code.hex(), "gas": hex(TX_GAS_LIMIT)}
        if value:
            params["value"] = hex(value)
        receipt = self._send_and_wait(params, None)
        if int(receipt["status"], 16) != 1:
            raise TransactionReverted(self._replay_reason(params, receipt), gas_used=int(receipt["gasUsed"], 16))
        return receipt["contractAddress"], int(receipt["gasUsed"], 16)

    def call(self, to: str, data: bytes, sender: str | None = None, block: str = "latest") -> bytes:
        params = {"to": to, "data": "0x" + data.hex()}
        if sender:
            params["from"] = sender
        try:
            return bytes.fromhex(self.rpc.request("eth_call", [params, block])[2:])
        except RpcError as err:
            raise TransactionReverted(_reason_of(err), to=to) from None

    def transact(self, tx: Tx, *, output: bool = False) -> TxResult:
        self._ensure_can_send(tx.sender)
        params = _tx_params(tx)
        return self._result(params, self._send_and_wait(params, tx.to), output)

    def transact_batch(self, txs: list[Tx]) -> list[TxResult | TransactionReverted]:
        for tx in txs:
            self._ensure_can_send(tx.sender)
        self.rpc.request("evm_setAutomine", [False])
        try:
            hashes = self.rpc.batch([("eth_sendTransaction", [_tx_params(tx)]) for tx in txs])
            self.rpc.request("evm_mine")
        finally:
            self.rpc.request("evm_setAutomine", [True])
        receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes if not isinstance(h, RpcError)])
        it = iter(receipts)
        out: list[TxResult | TransactionReverted] = []
        for tx, h in zip(txs, hashes):
            if isinstance(h, RpcError):
                out.append(TransactionReverted(_reason_of(h), to=tx.to))
                continue
            receipt = next(it)
            if int(receipt["status"], 16) == 1:
                out.append(TxResult(int(receipt["gasUsed"], 16), _logs(receipt)))
            else:
                out.append(
                    TransactionReverted(
                        "reverted inside a block (replay the block to see why)",
                        to=tx.to,
                        gas_used=int(receipt["gasUsed"], 16),
                    )
                )
        return out

    def _send_and_wait(self, params: dict, to: str | None) -> dict:
        """Send and return the receipt: one round trip where the node has ``eth_sendTransactionSync``."""
        if self._sync_send:
            try:
                return self.rpc.request("eth_sendTransactionSync", [params])
            except RpcError as err:
                if err.error.get("code") != -32601:  # anything but "method not found" is the tx's fault
                    raise TransactionReverted(_reason_of(err), to=to) from None
                self._sync_send = False
        try:
            tx_hash = self.rpc.request("eth_sendTransaction", [params])
        except RpcError as err:
            raise TransactionReverted(_reason_of(err), to=to) from None
        deadline = time.monotonic() + self.rpc.timeout
        while (receipt := self.rpc.request("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise ChainError(
                    f"transaction {tx_hash} was not mined within {self.rpc.timeout:.0f} s: "
                    f"is automine off on {self.url}?"
                )
            time.sleep(0.002)
        return receipt

    def _result(self, params: dict, receipt: dict, output: bool) -> TxResult:
        gas = int(receipt["gasUsed"], 16)
        if int(receipt["status"], 16) != 1:
            raise TransactionReverted(self._replay_reason(params, receipt), to=params.get("to"), gas_used=gas)
        out = None
        if output:  # one tx per block: the parent block's state is exactly this tx's pre-state
            parent = hex(int(receipt["blockNumber"], 16) - 1)
            out = bytes.fromhex(self.rpc.request("eth_call", [params, parent])[2:])
        return TxResult(gas, _logs(receipt), out)

    def _replay_reason(self, params: dict, receipt: dict) -> str:
        parent = hex(int(receipt["blockNumber"], 16) - 1)
        try:
            self.rpc.request("eth_call", [params, parent])
        except RpcError as err:
            return _reason_of(err)
        return "reverted (no reason on replay)"

    # --- blocks and state -------------------------------------------------------------------
    def block_number(self) -> int:
        return int(self.rpc.request("eth_blockNumber"), 16)

    def timestamp(self) -> int:
        return int(self.rpc.request("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def advance_time(self, seconds: int) -> None:
        if seconds < 0:
            raise ValueError(f"cannot move time backwards by {seconds} s")
        self.rpc.request("evm_mine", [self.timestamp() + int(seconds)])

    def snapshot(self) -> str:
        return self.rpc.request("evm_snapshot")

    def revert(self, snapshot: str) -> None:
        if not self.rpc.request("evm_revert", [snapshot]):
            raise ChainError(f"snapshot {snapshot} is unknown (a snapshot can be reverted to once)")

    def get_balance(self, address: str) -> int:
        return int(self.rpc.request("eth_getBalance", [address, "latest"]), 16)

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc.request("anvil_setBalance", [address, hex(wei)])

    def get_storage(self, address: str, slot: int) -> int:
        return int(self.rpc.request("eth_getStorageAt", [address, hex(slot), "latest"]), 16)

    def set_storage(self, address: str, slot: int, value: int) -> None:
        self.rpc.request("anvil_setStorageAt", [address, hex(slot), "0x" + value.to_bytes(32, "big").hex()])

    def get_code(self, address: str) -> bytes:
        return bytes.fromhex(self.rpc.request("eth_getCode", [address, "latest"])[2:])

    def close(self) -> None:
        self.rpc.close()


def _reason_of(err: RpcError) -> str:
    data = err.error.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return decode_revert(bytes.fromhex(data[2:]))
    return str(err.error.get("message", err.error))
