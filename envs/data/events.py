"""Protocol event logs in one table: fetched from any node with ``eth_getLogs``, decoded with the
protocols' own ABIs, stored as parquet with every integer exact (decimal strings inside a JSON
column), so a replay sees the very amounts, prices and liquidity the chain recorded.

One row per log: ``block_number, tx_index, log_index, tx_hash, timestamp, address, event, args``;
``args`` holds the event's fields by their ABI names (``amount0``, ``sqrtPriceX96``, ``tickLower``,
...). Readers of public formats (``envs.data.readers``) produce the same rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

#: the artifact whose ABI decodes each protocol's logs, and the events kept
PROTOCOLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "uniswap_v3": ("UniswapV3Pool", ("Swap", "Mint", "Burn", "Collect")),
    "uniswap_v2": ("UniswapV2Pair", ("Sync", "Swap", "Mint", "Burn")),
    "aave_v3": ("Pool", ("Supply", "Borrow", "Repay", "Withdraw", "LiquidationCall", "ReserveDataUpdated")),
}
COLUMNS = ("block_number", "tx_index", "log_index", "tx_hash", "timestamp", "address", "event", "args")


class EventDataError(ValueError):
    """An event file, a column or a node's answer is not what the event tools can use; says what to do."""


@dataclass(frozen=True)
class EventRecord:
    """One decoded log. ``args`` values are Python ints (exact), strings (addresses, hex) or bools."""

    block_number: int
    log_index: int
    event: str
    args: dict[str, Any]
    address: str = ""
    tx_index: int | None = None
    tx_hash: str = ""
    timestamp: int | None = None

    @property
    def order(self) -> tuple[int, int]:
        return self.block_number, self.log_index


def _encode_arg(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)  # exact in any reader, not only in one whose JSON numbers are unbounded
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_encode_arg(v) for v in value]
    return value


def _decode_arg(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, list):
        return [_decode_arg(v) for v in value]
    return value


def write_events(records: Iterable[EventRecord], path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``records`` (sorted by block and log index) to a parquet file, ``metadata`` in its schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(records, key=lambda r: r.order)
    columns = {
        "block_number": pa.array([r.block_number for r in rows], pa.int64()),
        "tx_index": pa.array([r.tx_index for r in rows], pa.int64()),
        "log_index": pa.array([r.log_index for r in rows], pa.int64()),
        "tx_hash": pa.array([r.tx_hash for r in rows], pa.string()),
        "timestamp": pa.array([r.timestamp for r in rows], pa.int64()),
        "address": pa.array([r.address.lower() for r in rows], pa.string()),
        "event": pa.array([r.event for r in rows], pa.string()),
        "args": pa.array([json.dumps({k: _encode_arg(v) for k, v in r.args.items()}) for r in rows], pa.string()),
    }
    table = pa.table(columns).replace_schema_metadata({"defigym.events": json.dumps(metadata or {})})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)  # a reader never sees half a file
    return path


def read_events(path: str | Path) -> list[EventRecord]:
    """Every row of an event file written by :func:`write_events`, in block and log order."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise EventDataError(
            f"{path} does not exist: fetch one with `python -m envs.data events ...`, or convert "
            f"a CSV export with `python -m envs.data convert ...`"
        )
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several error types for a file that is not parquet
        raise EventDataError(f"{path} is not a parquet event file ({err.__class__.__name__}: {err})") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise EventDataError(f"{path} lacks the columns {missing}; an event file has {list(COLUMNS)}")
    data = table.to_pydict()
    return [
        EventRecord(
            block_number=data["block_number"][i],
            log_index=data["log_index"][i],
            event=data["event"][i],
            args={k: _decode_arg(v) for k, v in json.loads(data["args"][i]).items()},
            address=data["address"][i],
            tx_index=data["tx_index"][i],
            tx_hash=data["tx_hash"][i],
            timestamp=data["timestamp"][i],
        )
        for i in range(table.num_rows)
    ]


def event_metadata(path: str | Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(b"defigym.events", b"{}")
    return json.loads(raw)


def decode_logs(protocol: str, logs: list[dict]) -> list[EventRecord]:
    """``eth_getLogs`` results as records (logs of other events are dropped)."""
    from envs.contracts.contract import abi_of
    from envs.evm.abi import LogEntry

    artifact, names = PROTOCOLS[protocol]
    abi = abi_of(artifact)
    out = []
    for log in logs:
        entry = LogEntry(log["address"], [bytes.fromhex(t[2:]) for t in log["topics"]], bytes.fromhex(log["data"][2:]))
        for decoded in abi.decode_logs([entry]):
            if decoded["event"] not in names:
                continue
            args = {k: v for k, v in decoded.items() if k not in ("event", "address")}
            out.append(
                EventRecord(
                    block_number=int(log["blockNumber"], 16),
                    log_index=int(log["logIndex"], 16),
                    event=decoded["event"],
                    args=args,
                    address=log["address"],
                    tx_index=int(log["transactionIndex"], 16),
                    tx_hash=log["transactionHash"],
                )
            )
    return out


def topics_of(protocol: str) -> list[str]:
    """The topic0 values of a protocol's kept events (one OR-list, as eth_getLogs takes it)."""
    from envs.contracts.contract import abi_of

    artifact, names = PROTOCOLS[protocol]
    return ["0x" + ev.topic.hex() for ev in abi_of(artifact).events.values() if ev.name in names]


# --- fetching ------------------------------------------------------------------------------------

#: phrases with which nodes and providers refuse a block range or a result set as too large
_TOO_LARGE = ("range", "too many", "more than", "limit", "exceed", "too large", "response size")


def _too_large(err) -> bool:
    message = str(err.error.get("message", "")).lower()
    return (
        err.error.get("code") in (-32005, -32602, -32600)
        and any(p in message for p in _TOO_LARGE)
        or any(p in message for p in ("block range", "query returned more than", "log response size"))
    )


@dataclass
class FetchPlan:
    """What to fetch, and how: chunks start at ``chunk`` blocks, halve while the node refuses a range,
    and grow back after a success (never past ``max_chunk``)."""

    rpc_url: str
    address: str
    from_block: int
    to_block: int
    protocol: str | None = None  # uniswap_v3, uniswap_v2 or aave_v3; None: asked of the contract
    chunk: int = 2_000
    max_chunk: int = 10_000
    retries: int = 5  # per request, for transport errors and busy nodes, with exponential backoff
    timestamps: bool = True  # one eth_getBlockByNumber per block that has events, batched
    progress: bool = True
    requests: list[str] = field(default_factory=list)  # the ranges asked for (for the record, and tests)


def detect_protocol(rpc, address: str) -> str:
    """Which protocol's contract sits at ``address``: a V3 pool answers fee(), a V2 pair getReserves(),
    an Aave V3 Pool ADDRESSES_PROVIDER()."""
    from envs.contracts.contract import abi_of
    from envs.evm.rpc import RpcError

    code = rpc.request("eth_getCode", [address, "latest"])
    if code in ("0x", "0x0", None):
        raise EventDataError(f"no contract at {address} on {rpc.url}: check the address and the chain")
    probes = (
        ("uniswap_v3", "UniswapV3Pool", "fee"),
        ("uniswap_v2", "UniswapV2Pair", "getReserves"),
        ("aave_v3", "Pool", "ADDRESSES_PROVIDER"),
    )
    for protocol, artifact, fn in probes:
        try:
            rpc.request(
                "eth_call", [{"to": address, "data": "0x" + abi_of(artifact).function(fn).encode().hex()}, "latest"]
            )
            return protocol
        except RpcError:
            continue
    raise EventDataError(
        f"{address} is neither a Uniswap V3 pool, a V2 pair nor an Aave V3 Pool; name the protocol with --protocol"
    )


def _with_retries(call: Callable[[], Any], retries: int, what: str) -> Any:
    from envs.evm.rpc import RpcError, TransportError

    failure: Exception | None = None
    for attempt in range(retries + 1):
        try:
            return call()
        except TransportError as err:
            failure = err
        except RpcError as err:
            if not err.transient or _too_large(err):
                raise
            failure = err
        if attempt < retries:
            time.sleep(min(0.2 * 2**attempt, 10.0))
    raise EventDataError(f"{what} failed {retries + 1} times: {failure}") from failure


def _parts_dir(out: Path, address: str, protocol: str) -> Path:
    return out.with_name(out.name + ".parts") / f"{address.lower()}-{protocol}"


def _covered(parts: Path) -> list[tuple[int, int]]:
    """Block ranges already fetched into ``parts`` (a file per range: <from>-<to>.parquet)."""
    out = []
    for p in parts.glob("*.parquet"):
        a, b = p.stem.split("-")
        out.append((int(a), int(b)))
    return sorted(out)


def fetch_events(plan: FetchPlan, out: str | Path) -> Path:
    """Fetch ``plan``'s logs into ``out`` (parquet). Every fetched range is kept in ``out.parts/`` as it
    arrives, so an interrupted fetch resumes where it stopped and a repeated one asks the node nothing."""
    from tqdm import tqdm

    from envs.evm.rpc import JsonRpc, RpcError

    if plan.from_block > plan.to_block:
        raise EventDataError(f"--from-block {plan.from_block} is after --to-block {plan.to_block}")
    out = Path(out)
    rpc = JsonRpc(plan.rpc_url, timeout=60.0)
    protocol = plan.protocol or _with_retries(lambda: detect_protocol(rpc, plan.address), plan.retries, "detecting")
    if protocol not in PROTOCOLS:
        raise EventDataError(f"protocol {protocol!r} is not one of {sorted(PROTOCOLS)}")
    parts = _parts_dir(out, plan.address, protocol)
    parts.mkdir(parents=True, exist_ok=True)
    topics = topics_of(protocol)
    covered = _covered(parts)
    total = plan.to_block - plan.from_block + 1
    bar = tqdm(total=total, unit="block", desc=f"{protocol} logs", disable=not plan.progress)
    block, chunk = plan.from_block, plan.chunk
    while block <= plan.to_block:
        done = next((b for a, b in covered if a <= block <= b), None)
        if done is not None:  # fetched by an earlier run
            step = min(done, plan.to_block) - block + 1
            bar.update(step)
            block += step
            continue
        upcoming = min((a for a, _ in covered if a > block), default=plan.to_block + 1)
        end = min(block + chunk - 1, plan.to_block, upcoming - 1)
        query = {"address": plan.address, "fromBlock": hex(block), "toBlock": hex(end), "topics": [topics]}
        plan.requests.append(f"{block}-{end}")
        try:
            logs = _with_retries(
                lambda: rpc.request("eth_getLogs", [query]), plan.retries, f"eth_getLogs {block}-{end}"
            )
        except RpcError as err:
            if _too_large(err) and end > block:
                chunk = max(1, (end - block + 1) // 2)
                continue
            raise EventDataError(f"eth_getLogs {block}-{end} was refused: {err}") from err
        records = decode_logs(protocol, logs)
        if plan.timestamps and records:
            records = _with_timestamps(rpc, records, plan.retries)
        write_events(records, parts / f"{block}-{end}.parquet")
        bar.update(end - block + 1)
        block, chunk = end + 1, min(plan.max_chunk, chunk * 2)
    bar.close()
    records = [
        r
        for a, b in _covered(parts)
        if b >= plan.from_block and a <= plan.to_block
        for r in read_events(parts / f"{a}-{b}.parquet")
        if plan.from_block <= r.block_number <= plan.to_block
    ]
    extra = {}
    if protocol == "uniswap_v3":  # the fee tier, so a replay needs nothing but the file
        from envs.contracts.contract import abi_of

        fee = abi_of("UniswapV3Pool").function("fee")
        answer = rpc.request("eth_call", [{"to": plan.address, "data": "0x" + fee.encode().hex()}, "latest"])
        extra["fee_pips"] = str(fee.decode(bytes.fromhex(answer[2:]))[0])
    return write_events(
        records,
        out,
        {
            **extra,
            "source": "eth_getLogs",
            "rpc": _redacted(plan.rpc_url),
            "address": plan.address.lower(),
            "protocol": protocol,
            "from_block": str(plan.from_block),
            "to_block": str(plan.to_block),
            "exact": "true",
        },
    )


def _with_timestamps(rpc, records: list[EventRecord], retries: int) -> list[EventRecord]:
    from dataclasses import replace

    blocks = sorted({r.block_number for r in records})
    stamps: dict[int, int] = {}
    for i in range(0, len(blocks), 100):
        batch = blocks[i : i + 100]
        answers = _with_retries(
            lambda: rpc.batch([("eth_getBlockByNumber", [hex(b), False]) for b in batch]),
            retries,
            "eth_getBlockByNumber",
        )
        for b, answer in zip(batch, answers):
            if isinstance(answer, Exception) or answer is None:
                raise EventDataError(f"the node did not return block {b}: {answer}")
            stamps[b] = int(answer["timestamp"], 16)
    return [replace(r, timestamp=stamps[r.block_number]) for r in records]


def _redacted(url: str) -> str:
    """A provider URL without its path and query (where API keys live)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
