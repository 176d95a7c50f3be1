"""The fast call path: the lean loopback JSON-RPC transport, and the fast ABI codec, which gives the general eth_abi path's bytes and values bit for bit, and its errors where it fails.

Every function of every artifact is encoded with random valid arguments (edge values included) and its
outputs decoded from random words, fast path against eth_abi; out-of-range, mistyped and malformed values
must fail exactly as eth_abi fails (the fast path hands them to it).
"""

from __future__ import annotations

import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import eth_abi
import pytest
from eth_utils import to_checksum_address

from envs.contracts.artifacts import ARTIFACT_PATHS
from envs.contracts.contract import abi_of
from envs.evm.abi import Function, _static_shape, checksum
from envs.evm.anvil import free_port
from envs.evm.rpc import JsonRpc, TransportError


def _functions() -> list[tuple[str, Function]]:
    out = []
    for name in ARTIFACT_PATHS:
        try:
            abi = abi_of(name)
        except Exception:  # an artifact whose package is not installed here
            continue
        seen = set()
        for fn in abi.functions.values():
            if fn.signature not in seen:
                seen.add(fn.signature)
                out.append((name, fn))
    return out


FUNCTIONS = _functions()


def _value(shape, rng: random.Random):
    if isinstance(shape, list):
        return tuple(_value(s, rng) for s in shape)
    kind, bits = shape
    if kind == "uint":
        return rng.choice([0, 1, 2**bits - 1, rng.getrandbits(bits), rng.getrandbits(max(bits // 2, 1))])
    if kind == "int":
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return rng.choice([0, -1, lo, hi, rng.randint(lo, hi)])
    if kind == "address":
        raw = rng.getrandbits(160).to_bytes(20, "big")
        return rng.choice([to_checksum_address(raw), "0x" + raw.hex(), "0x" + raw.hex().upper()[0:0] + raw.hex()])
    return rng.random() < 0.5


def _general_encode(fn: Function, args) -> bytes:
    return fn.selector + eth_abi.encode(list(fn.inputs), list(args))


def test_every_artifact_function_is_seen():
    assert len(FUNCTIONS) > 100
    assert sum(_static_shape(f"({','.join(fn.inputs)})") is not None for _, fn in FUNCTIONS) > 50


@pytest.mark.parametrize("seed", range(3))
def test_encoding_is_bit_identical_to_eth_abi(seed):
    rng = random.Random(seed)
    checked = 0
    for _name, fn in FUNCTIONS:
        shapes = fn._input_shapes
        if shapes is None:
            continue
        for _ in range(5):
            args = _value(shapes, rng)
            assert fn.encode(*args) == _general_encode(fn, args), fn.signature
            checked += 1
    assert checked > 250


def test_the_swap_calldata_is_bit_identical():
    router = abi_of("SwapRouter").function("exactInputSingle")
    params = (
        checksum("0x5fbdb2315678afecb367f032d93f642f64180aa3"),
        checksum("0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"),
        3000,
        checksum("0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"),
        2**64,
        10**18,
        0,
        0,
    )
    assert router.encode(params) == _general_encode(router, (params,))
    assert router.encode(list(params)) == _general_encode(router, (list(params),))


def _outcome(call):
    try:
        return "ok", call()
    except Exception as err:  # the same exception type is the contract
        return "error", type(err)


BAD_VALUES = {
    "uint": [-1, 2**256, True, 1.0, "1", None],
    "int": [2**255, -(2**255) - 1, False, 1.5, None],
    "address": [
        "0x" + "ab" * 19,
        "0x5FbDB2315678afecb367f032d93F642f64180aA3",
        "5fbdb2315678afecb367f032d93f642f64180aa3",
        b"\x01" * 20,
        1,
        None,
    ],
    "bool": [0, 1, "true", None],
}


def _leaves(shape, path=()):
    if isinstance(shape, list):
        for i, s in enumerate(shape):
            yield from _leaves(s, path + (i,))
    else:
        yield path, shape


def _replace(args, path, value):
    if len(path) == 1:
        return args[: path[0]] + (value,) + args[path[0] + 1 :]
    inner = _replace(tuple(args[path[0]]), path[1:], value)
    return args[: path[0]] + (inner,) + args[path[0] + 1 :]


def test_bad_values_fail_as_eth_abi_fails():
    rng = random.Random(7)
    checked = 0
    for _name, fn in FUNCTIONS:
        shapes = fn._input_shapes
        if shapes is None or not shapes:
            continue
        good = _value(shapes, rng)
        for path, (kind, bits) in _leaves(shapes):
            bad_values = BAD_VALUES[kind] + ([2**bits, -(2 ** (bits - 1)) - 1] if kind in ("uint", "int") else [])
            for bad in bad_values:
                args = _replace(good, path, bad)
                assert _outcome(lambda: fn.encode(*args)) == _outcome(lambda: _general_encode(fn, args)), (
                    fn.signature,
                    path,
                    bad,
                )
                checked += 1
        if len(shapes) and isinstance(shapes[0], list):  # a tuple argument one item short, or not a sequence
            for bad in (tuple(good[0])[:-1], "not a tuple"):
                args = (bad,) + tuple(good[1:])
                assert _outcome(lambda: fn.encode(*args)) == _outcome(lambda: _general_encode(fn, args))
    assert checked > 500


def _words(shape, rng: random.Random) -> list[bytes]:
    if isinstance(shape, list):
        return [w for s in shape for w in _words(s, rng)]
    kind, bits = shape
    choice = rng.random()
    if choice < 0.15:  # anything at all in the word: padding that eth_abi refuses, most of the time
        return [rng.getrandbits(256).to_bytes(32, "big")]
    if kind == "uint":
        return [rng.getrandbits(bits).to_bytes(32, "big")]
    if kind == "int":
        return [(rng.randint(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) % 2**256).to_bytes(32, "big")]
    if kind == "address":
        return [rng.getrandbits(160).to_bytes(32, "big")]
    return [rng.choice([0, 1, 2]).to_bytes(32, "big")]


@pytest.mark.parametrize("seed", range(3))
def test_decoding_is_identical_to_eth_abi(seed):
    rng = random.Random(100 + seed)
    checked = 0
    for _name, fn in FUNCTIONS:
        shapes = fn._output_shapes
        if shapes is None:
            continue
        for _ in range(6):
            data = b"".join(_words(shapes, rng))
            if rng.random() < 0.1:
                data = data[: rng.randrange(len(data) + 1)]  # too short
            elif rng.random() < 0.1:
                data += bytes(32)  # trailing bytes are ignored by both
            fast = _outcome(lambda: fn.decode(data))
            general = _outcome(lambda: tuple(eth_abi.decode(list(fn.outputs), data)))
            assert fast == general, (fn.signature, data.hex())
            if fast[0] == "ok":  # the same types too: bool stays bool, addresses checksummed
                assert [type(v) for v in fast[1]] == [type(v) for v in general[1]]
            checked += 1
    assert checked > 300


def test_checksum_is_eip55_and_cached():
    raw = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
    assert checksum(raw) == to_checksum_address(raw) == checksum(raw)
    with pytest.raises(ValueError):
        checksum("0x1234")


def test_event_decoding_is_identical_to_eth_abi():
    rng = random.Random(11)
    checked = 0
    for name in ARTIFACT_PATHS:
        try:
            abi = abi_of(name)
        except Exception:
            continue
        for ev in abi.events.values():
            indexed = _static_shape(f"({','.join(t for _, t in ev.indexed)})")
            data_shape = _static_shape(f"({','.join(t for _, t in ev.data)})")
            if indexed is None or data_shape is None:
                continue
            for _ in range(4):
                topics = [ev.topic] + _words(indexed, rng)
                data = b"".join(_words(data_shape, rng))

                def general(ev=ev, topics=topics, data=data) -> dict:
                    out = {n: eth_abi.decode([t], topic)[0] for (n, t), topic in zip(ev.indexed, topics[1:])}
                    out.update(zip((n for n, _ in ev.data), eth_abi.decode([t for _, t in ev.data], data)))
                    return out

                general_outcome = _outcome(general)
                assert _outcome(lambda: ev.decode(topics, data)) == general_outcome, ev.name
                checked += 1
    assert checked > 50


class _Node(BaseHTTPRequestHandler):
    """A JSON-RPC stand-in that answers in each framing a node may use, chosen by the method name."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802  (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        reply = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": body["method"]}).encode()
        method = body["method"]
        if method == "busy":
            self.send_response(503)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"busy")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if method == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(reply) // 2
            for piece in (reply[:half], reply[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif method == "close":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


def test_the_loopback_transport_reads_every_framing_and_recovers_a_dropped_connection():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rpc = JsonRpc(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        assert rpc._local is not None  # a loopback URL takes the lean transport
        for method in ("plain", "chunked", "plain", "close", "plain", "chunked"):
            assert rpc.request(method) == method
        assert rpc.batch([]) == []
        with pytest.raises(TransportError, match="HTTP 503"):
            rpc.request("busy")
        assert rpc.request("plain") == "plain"  # and on again after the error
        rpc._local._sock.shutdown(socket.SHUT_RDWR)  # a connection gone under it is reopened
        assert rpc.request("plain") == "plain"
    finally:
        rpc.close()
        server.shutdown()
        server.server_close()
    with pytest.raises(TransportError, match="cannot reach the node"):
        rpc.request("plain")  # the node is gone
