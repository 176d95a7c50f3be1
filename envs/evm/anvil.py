"""The ``anvil`` rung: a real node started and stopped by the project.

anvil comes from PATH when Foundry is installed, else from the npm package
``@foundry-rs/anvil``. The process is started directly (not through the node wrapper) so the
PID held is anvil's own; it is always reaped, at ``close()``, on garbage collection or at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from envs.evm.chain import LOCAL_CHAIN_ID, ChainError
from envs.evm.revm import BLOCK_INTERVAL, GENESIS_TIMESTAMP
from envs.evm.rpc import JsonRpc, RpcChain
from envs.paths import node_modules_dir

NPM_BINARY = "@foundry-rs/anvil-linux-amd64/bin/anvil"
HARDFORK = "shanghai"  # the spec the pyrevm rung runs, so gas agrees across rungs
#: block states kept in memory. Unpruned, anvil spills every block's state to disk and slows from
#: ~650 to ~100 txs/s after a few hundred blocks; calls at blocks older than this are refused.
KEEP_STATES = 64


def find_anvil() -> str:
    """Path to an anvil binary: ``$DEFIGYM_ANVIL``, PATH, or the npm package."""
    for candidate in (os.environ.get("DEFIGYM_ANVIL"), shutil.which("anvil"), str(node_modules_dir() / NPM_BINARY)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ChainError(
        "anvil not found: install Foundry (https://getfoundry.sh) so `anvil` is on PATH, "
        "or run `npm ci` in the project root to get @foundry-rs/anvil, "
        "or set DEFIGYM_ANVIL to the binary."
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_busy(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


_LIVE: "weakref.WeakSet[AnvilProcess]" = weakref.WeakSet()


class AnvilProcess:
    """One anvil node: started on construction, ready when the constructor returns."""

    def __init__(
        self,
        port: int | None = None,
        *,
        fork_url: str | None = None,
        fork_block: int | None = None,
        load_state: str | Path | None = None,
        dump_state: str | Path | None = None,
        chain_id: int | None = None,
        log_path: str | Path | None = None,
        startup_timeout: float = 30.0,
        keep_states: int | None = KEEP_STATES,
        extra_args: list[str] | None = None,
    ):
        if port is not None and _port_is_busy(port):
            raise ChainError(
                f"port {port} is busy: another process listens there. "
                f"Pick another port, or leave the port out to get a free one."
            )
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix="anvil-")) / "anvil.log"
        args = [find_anvil(), "--port", str(self.port), "--host", "127.0.0.1", "--hardfork", HARDFORK]
        if fork_url is not None:
            JsonRpc(fork_url)  # checks the URL's form before a process is started
            args += ["--fork-url", fork_url, "--retries", "1", "--timeout", "5000"]
            if fork_block is not None:
                args += ["--fork-block-number", str(fork_block)]
        elif load_state is None:
            args += ["--timestamp", str(GENESIS_TIMESTAMP)]
        if chain_id is not None or fork_url is None:
            args += ["--chain-id", str(chain_id or LOCAL_CHAIN_ID)]
        if load_state is not None:
            if not Path(load_state).is_file():
                raise ChainError(
                    f"state file {load_state} does not exist; build one with "
                    f"`python -m envs.contracts build-localnet --out DIR`"
                )
            args += ["--load-state", str(load_state)]
        if dump_state is not None:
            args += ["--dump-state", str(dump_state)]
        if keep_states is not None:
            args += ["--prune-history", str(keep_states)]
        args += extra_args or []
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        _LIVE.add(self)
        self._finalizer = weakref.finalize(self, _reap, self.proc, self._log)
        try:
            self._wait_ready(startup_timeout, fork_url)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float, fork_url: str | None) -> None:
        """Until this node answers: an answer on the port counts only once its own log says it listens there (a
        port taken between ``free_port`` and the start is another process's node, and this one then exits)."""
        rpc = JsonRpc(self.url, timeout=2.0)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ChainError(self._died_message(fork_url))
            try:
                rpc.request("eth_chainId")
                if f"Listening on 127.0.0.1:{self.port}" in self.log_tail():
                    return
            except ChainError:
                pass
            finally:
                rpc.close()
            if time.monotonic() > deadline:
                raise ChainError(
                    f"anvil did not answer on {self.url} within {timeout:.0f} s; log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _died_message(self, fork_url: str | None) -> str:
        tail = self.log_tail()
        if "Address already in use" in tail or "address in use" in tail.lower():
            return f"anvil could not bind port {self.port}: it is busy. Pick another port or leave it out."
        if fork_url is not None:
            return (
                f"anvil could not fork {fork_url}: the RPC URL is unreachable or rejected the request. "
                f"Check the URL (and the block number).\nanvil said:\n{tail}"
            )
        return f"anvil exited with code {self.proc.returncode}; log {self.log_path}:\n{tail}"

    def log_tail(self, lines: int = 20) -> str:
        self._log.flush()
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop anvil with SIGINT (so it writes ``--dump-state``), then SIGKILL if it lingers."""
        _reap(self.proc, self._log, timeout)
        self._finalizer.detach()

    def __enter__(self) -> "AnvilProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _reap(proc: subprocess.Popen, log, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


@atexit.register
def _reap_all() -> None:
    for node in list(_LIVE):
        node.stop(timeout=5.0)


class AnvilChain(RpcChain):
    """A :class:`Chain` on an anvil this object starts and owns; blocks every ``block_interval`` seconds."""

    def __init__(self, port: int | None = None, *, block_interval: int = BLOCK_INTERVAL, **process_args):
        self.node = AnvilProcess(port, **process_args)
        try:
            super().__init__(self.node.url)
            self.rpc.diagnose = self._death_note
            self.rpc.request("anvil_setBlockTimestampInterval", [block_interval])
        except BaseException:
            self.node.stop()
            raise

    def _death_note(self) -> str | None:
        if self.node.alive():
            return None
        return (
            f"anvil (pid {self.node.pid}) is gone: it exited with code {self.node.proc.returncode}. "
            f"Its state is lost; start a new chain. Log {self.node.log_path}:\n{self.node.log_tail()}"
        )

    def dump_state(self) -> str:
        """The node's whole state as anvil's hex-encoded blob (``anvil_loadState`` takes it back)."""
        return self.rpc.request("anvil_dumpState")

    def load_state(self, blob: str) -> None:
        self.rpc.request("anvil_loadState", [blob])

    def close(self) -> None:
        super().close()
        self.node.stop()
