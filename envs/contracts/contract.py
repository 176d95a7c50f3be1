"""A deployed contract bound to a :class:`Chain`: encode, call, transact and decode by ABI."""

from __future__ import annotations

from functools import cache
from typing import Any

from envs.contracts.artifacts import load_artifact
from envs.evm.abi import ABI, checksum
from envs.evm.chain import DEV_ACCOUNT, Chain, Tx, TxResult


@cache
def abi_of(artifact: str) -> ABI:
    return ABI(load_artifact(artifact).abi)


class Contract:
    """``Contract(chain, address, "UniswapV3Pool").call("slot0")``; results unwrapped when single."""

    def __init__(self, chain: Chain, address: str, artifact: str):
        self.chain, self.address, self.artifact = chain, checksum(address), artifact
        self.abi = abi_of(artifact)

    def encode(self, fn: str, *args) -> bytes:
        return self.abi.function(fn).encode(*args)

    def call(self, fn: str, *args, sender: str = DEV_ACCOUNT) -> Any:
        f = self.abi.function(fn)
        out = f.decode(self.chain.call(self.address, f.encode(*args), sender))
        return out[0] if len(out) == 1 else out

    def tx(self, fn: str, *args, sender: str, value: int = 0) -> Tx:
        return Tx(sender, self.address, self.encode(fn, *args), value)

    def transact(self, fn: str, *args, sender: str, value: int = 0) -> TxResult:
        return self.chain.transact(self.tx(fn, *args, sender=sender, value=value))

    def events(self, result: TxResult, name: str | None = None) -> list[dict]:
        return self.abi.decode_logs([lg for lg in result.logs if lg.address.lower() == self.address.lower()], name)

    def __repr__(self) -> str:
        return f"{self.artifact}({self.address})"


def deploy(
    chain: Chain,
    artifact: str,
    *args,
    sender: str = DEV_ACCOUNT,
    libraries: dict[str, str] | None = None,
    value: int = 0,
) -> Contract:
    """Deploy ``artifact`` with constructor ``args`` (and linked ``libraries``); return it bound."""
    art = load_artifact(artifact)
    code = art.linked(libraries or {}) if art.link_references else art.bytecode
    address, _gas = chain.deploy(sender, code + abi_of(artifact).constructor_args(*args), value)
    return Contract(chain, address, artifact)
