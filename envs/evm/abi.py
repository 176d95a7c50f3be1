"""Solidity ABI encoding and decoding for calls, constructors, events and revert data."""
from __future__ import annotations

from dataclasses import dataclass

import eth_abi
from eth_utils import keccak, to_checksum_address

#: Error(string) and Panic(uint256), the two revert payloads Solidity emits
_ERROR_SELECTOR = keccak(text="Error(string)")[:4]
_PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]


def abi_type(param: dict) -> str:
    """Canonical type of an ABI parameter, with tuples spelled out: ``(address,uint24)[]``."""
    t = param["type"]
    if t.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){t[len('tuple'):]}"
    return t


@dataclass(frozen=True)
class Function:
    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.inputs)})"

    def encode(self, *args) -> bytes:
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.signature} takes {len(self.inputs)} arguments, got {len(args)}")
        return self.selector + eth_abi.encode(list(self.inputs), list(args))

    def decode(self, output: bytes) -> tuple:
        return tuple(eth_abi.decode(list(self.outputs), output))


@dataclass(frozen=True)
class Event:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]

    def decode(self, topics: list[bytes], data: bytes) -> dict:
        out = {name: eth_abi.decode([t], topic)[0] for (name, t), topic in zip(self.indexed, topics[1:])}
        out.update(zip((n for n, _ in self.data), eth_abi.decode([t for _, t in self.data], data)))
        return out


class ABI:
    """Functions (by name, or by signature where a name is overloaded), constructor and events."""

    def __init__(self, abi: list[dict]):
        self.functions: dict[str, Function] = {}
        self.events: dict[bytes, Event] = {}
        self.constructor_inputs: tuple[str, ...] = ()
        by_name: dict[str, list[Function]] = {}
        for item in abi:
            kind = item.get("type")
            if kind == "function":
                inputs = tuple(abi_type(p) for p in item["inputs"])
                sig = f"{item['name']}({','.join(inputs)})"
                fn = Function(item["name"], keccak(text=sig)[:4], inputs,
                              tuple(abi_type(p) for p in item.get("outputs", [])))
                self.functions[sig] = fn
                by_name.setdefault(item["name"], []).append(fn)
            elif kind == "constructor":
                self.constructor_inputs = tuple(abi_type(p) for p in item["inputs"])
            elif kind == "event":
                sig = f"{item['name']}({','.join(abi_type(p) for p in item['inputs'])})"
                ev = Event(item["name"], keccak(text=sig),
                           tuple((p["name"], abi_type(p)) for p in item["inputs"] if p["indexed"]),
                           tuple((p["name"], abi_type(p)) for p in item["inputs"] if not p["indexed"]))
                self.events[ev.topic] = ev
        for name, fns in by_name.items():
            if len(fns) == 1:
                self.functions[name] = fns[0]

    def function(self, name: str) -> Function:
        try:
            return self.functions[name]
        except KeyError:
            overloads = [s for s in self.functions if s.startswith(name + "(")]
            hint = f"; it is overloaded, name one of {overloads}" if overloads else ""
            raise KeyError(f"no function {name!r} in this ABI{hint}") from None

    def constructor_args(self, *args) -> bytes:
        return eth_abi.encode(list(self.constructor_inputs), list(args))

    def decode_logs(self, logs: list["LogEntry"], name: str | None = None) -> list[dict]:
        """Decode the logs this ABI knows (optionally only events called ``name``)."""
        out = []
        for log in logs:
            ev = self.events.get(log.topics[0]) if log.topics else None
            if ev is not None and (name is None or ev.name == name):
                out.append({"event": ev.name, "address": log.address, **ev.decode(log.topics, log.data)})
        return out


@dataclass(frozen=True)
class LogEntry:
    address: str
    topics: list[bytes]
    data: bytes


def decode_revert(output: bytes) -> str:
    """Human-readable revert reason from revert data (Error(string), Panic(uint256) or raw)."""
    if output[:4] == _ERROR_SELECTOR:
        return eth_abi.decode(["string"], output[4:])[0]
    if output[:4] == _PANIC_SELECTOR:
        return f"panic 0x{eth_abi.decode(['uint256'], output[4:])[0]:02x}"
    return "0x" + output.hex() if output else "no reason given"


def checksum(address: str) -> str:
    return to_checksum_address(address)
