"""Solidity ABI encoding and decoding for calls, constructors, events and revert data."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Callable

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
        return f"({inner}){t[len('tuple') :]}"
    return t


_ZERO12 = bytes(12)
_TRUE_WORD, _FALSE_WORD = (1).to_bytes(32, "big"), bytes(32)
_MOD256 = 2**256
#: a leaf of a static signature: ("address" | "bool" | "uint" | "int", bits)
_Leaf = tuple[str, int]


def _split_tuple(t: str) -> list[str] | None:
    """Components of a plain tuple type ``(a,(b,c),d)``; None for anything else (arrays of tuples included)."""
    if not (t.startswith("(") and t.endswith(")")):
        return None
    parts, depth, start = [], 0, 1
    for i, ch in enumerate(t[1:-1], 1):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return None
        if ch == "," and depth == 0:
            parts.append(t[start:i])
            start = i + 1
    if depth != 0:
        return None
    parts.append(t[start:-1])
    return parts if parts != [""] else []


def _static_shape(t: str) -> Any:
    """A static type as a leaf or a list of shapes, or None where the fast codec leaves it to eth_abi
    (dynamic types, arrays, fixed-size bytes, fixed-point)."""
    if t == "address" or t == "bool":
        return (t, 0)
    for kind in ("uint", "int"):
        if t.startswith(kind) and t[len(kind) :].isdigit():
            bits = int(t[len(kind) :])
            return (kind, bits) if 8 <= bits <= 256 and bits % 8 == 0 else None
    components = _split_tuple(t)
    if components is None:
        return None
    shapes = [_static_shape(c) for c in components]
    return None if any(s is None for s in shapes) else shapes


@lru_cache(maxsize=65536)
def _address_word(value: str) -> bytes:
    """An address string's ABI word, as eth_abi encodes it (its checks included: raises where eth_abi does)."""
    return eth_abi.encode(["address"], [value])


class _Fallback(Exception):
    """The fast codec met a value it does not vouch for: the general eth_abi path decides."""


def _encode_shape(shape: Any, value: Any, out: list[bytes]) -> None:
    if isinstance(shape, list):
        if type(value) not in (tuple, list) or len(value) != len(shape):
            raise _Fallback
        for sub, v in zip(shape, value):
            _encode_shape(sub, v, out)
        return
    kind, bits = shape
    if kind == "uint":
        if type(value) is not int or value < 0 or value >> bits:
            raise _Fallback
        out.append(value.to_bytes(32, "big"))
    elif kind == "int":
        if type(value) is not int or not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            raise _Fallback
        out.append((value % _MOD256).to_bytes(32, "big"))
    elif kind == "address":
        if type(value) is not str:
            raise _Fallback
        try:
            out.append(_address_word(value))
        except Exception:
            raise _Fallback from None
    else:  # bool
        if type(value) is not bool:
            raise _Fallback
        out.append(_TRUE_WORD if value else _FALSE_WORD)


def _decode_uint(bits: int) -> Callable[[bytes], Any]:
    if bits == 256:
        return lambda word: int.from_bytes(word, "big")

    def decode(word: bytes) -> int:
        value = int.from_bytes(word, "big")
        if value >> bits:
            raise _Fallback  # non-zero padding: eth_abi's error
        return value

    return decode


def _decode_int(bits: int) -> Callable[[bytes], Any]:
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)

    def decode(word: bytes) -> int:
        value = int.from_bytes(word, "big", signed=True)
        if not lo <= value < hi:
            raise _Fallback  # padding that is not the sign
        return value

    return decode


def _decode_address(word: bytes) -> str:
    if word[:12] != _ZERO12:
        raise _Fallback
    return "0x" + word[12:].hex()  # lower case, as eth_abi decodes addresses


def _decode_bool(word: bytes) -> bool:
    if word == _TRUE_WORD:
        return True
    if word == _FALSE_WORD:
        return False
    raise _Fallback


class _StaticDecoder:
    """Decodes static values word by word, the same values as eth_abi; raises _Fallback where eth_abi may differ."""

    def __init__(self, shape: list):
        self.leaves: list[Callable[[bytes], Any]] = []
        self.nested = any(isinstance(s, list) for s in shape)
        self.shape = shape
        self._collect(shape)
        self.size = 32 * len(self.leaves)

    def _collect(self, shape: Any) -> None:
        if isinstance(shape, list):
            for sub in shape:
                self._collect(sub)
            return
        kind, bits = shape
        self.leaves.append(
            {"uint": _decode_uint, "int": _decode_int}[kind](bits)
            if kind in ("uint", "int")
            else _decode_address
            if kind == "address"
            else _decode_bool
        )

    def __call__(self, data: bytes) -> tuple:
        if len(data) < self.size:
            raise _Fallback  # too short: eth_abi's error
        values = [leaf(data[i : i + 32]) for leaf, i in zip(self.leaves, range(0, self.size, 32))]
        if not self.nested:
            return tuple(values)
        it = iter(values)
        return self._rebuild(self.shape, it)

    def _rebuild(self, shape: list, it: Any) -> tuple:
        return tuple(self._rebuild(s, it) if isinstance(s, list) else next(it) for s in shape)


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
        shapes = self._input_shapes
        if shapes is not None:
            words = [self.selector]
            try:
                for shape, arg in zip(shapes, args):
                    _encode_shape(shape, arg, words)
                return b"".join(words)
            except _Fallback:
                pass
        return self.selector + eth_abi.encode(list(self.inputs), list(args))

    def decode(self, output: bytes) -> tuple:
        decoder = self._output_decoder
        if decoder is not None:
            try:
                return decoder(output)
            except _Fallback:
                pass
        return tuple(eth_abi.decode(list(self.outputs), output))

    @cached_property
    def _input_shapes(self) -> list | None:
        """The inputs as static shapes for the fast encoder (None: eth_abi encodes them): same bytes, no
        per-call type parsing or encoder lookup. Values it does not vouch for go to eth_abi, errors included."""
        return _static_shape(f"({','.join(self.inputs)})")

    @cached_property
    def _output_shapes(self) -> list | None:
        """The outputs as static shapes for the fast decoder (None: eth_abi decodes them)."""
        return _static_shape(f"({','.join(self.outputs)})")

    @cached_property
    def _output_decoder(self) -> _StaticDecoder | None:
        shapes = self._output_shapes
        return None if shapes is None else _StaticDecoder(shapes)


@dataclass(frozen=True)
class Event:
    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]

    def decode(self, topics: list[bytes], data: bytes) -> dict:
        out = {name: _decode_values((t,), topic)[0] for (name, t), topic in zip(self.indexed, topics[1:])}
        out.update(zip((n for n, _ in self.data), _decode_values(tuple(t for _, t in self.data), data)))
        return out


@lru_cache(maxsize=4096)
def _decoder_of(types: tuple[str, ...]) -> _StaticDecoder | None:
    shapes = _static_shape(f"({','.join(types)})")
    return None if shapes is None else _StaticDecoder(shapes)


def _decode_values(types: tuple[str, ...], data: bytes) -> tuple:
    """eth_abi.decode's values, through the fast decoder where the types are static."""
    decoder = _decoder_of(types)
    if decoder is not None:
        try:
            return decoder(data)
        except _Fallback:
            pass
    return tuple(eth_abi.decode(list(types), data))


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
                fn = Function(
                    item["name"], keccak(text=sig)[:4], inputs, tuple(abi_type(p) for p in item.get("outputs", []))
                )
                self.functions[sig] = fn
                by_name.setdefault(item["name"], []).append(fn)
            elif kind == "constructor":
                self.constructor_inputs = tuple(abi_type(p) for p in item["inputs"])
            elif kind == "event":
                sig = f"{item['name']}({','.join(abi_type(p) for p in item['inputs'])})"
                ev = Event(
                    item["name"],
                    keccak(text=sig),
                    tuple((p["name"], abi_type(p)) for p in item["inputs"] if p["indexed"]),
                    tuple((p["name"], abi_type(p)) for p in item["inputs"] if not p["indexed"]),
                )
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


@lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    """The EIP-55 form of ``address``; cached, as every Contract built for a pool checksums its address again."""
    return to_checksum_address(address)
