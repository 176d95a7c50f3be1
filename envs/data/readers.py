"""Readers of public Uniswap V3 event exports into the event table's rows (``envs.data.events``).

- demeter-fetch's per-pool tick CSV (``block_number, block_timestamp, tx_type, ...``): every Swap,
  Mint, Burn and Collect with exact integers.
- subgraph swap exports (``amount0, amount1, amountUSD, id, sqrtPriceX96, tick, timestamp, ...``):
  swaps only, amounts in whole tokens and ``sqrtPriceX96``/``liquidity`` in floating point, so the
  rows are marked inexact; they carry no block number and keep the file's order.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from envs.data.events import EventDataError, EventRecord
from envs.units import USDC, WETH

DEMETER = (
    "block_number",
    "block_timestamp",
    "tx_type",
    "transaction_hash",
    "tx_index",
    "log_index",
    "sender",
    "receipt",
    "amount0",
    "amount1",
    "total_liquidity",
    "sqrtPriceX96",
    "current_tick",
    "tick_lower",
    "tick_upper",
    "liquidity",
)
SUBGRAPH_SWAPS = ("amount0", "amount1", "id", "sqrtPriceX96", "tick", "timestamp", "liquidity")
FORMATS = {"demeter": DEMETER, "subgraph_swaps": SUBGRAPH_SWAPS}


def _int(value: str) -> int:
    """An integer column that some exports write as ``199032.0``."""
    return int(Decimal(value))


def detect_format(header: list[str], path: Path) -> str:
    for name, required in FORMATS.items():
        if set(required) <= set(header):
            return name
    closest = max(FORMATS, key=lambda n: len(set(FORMATS[n]) & set(header)))
    missing = [c for c in FORMATS[closest] if c not in header]
    raise EventDataError(
        f"{path}: unknown event export; its columns {header} match no known format. Nearest is "
        f"{closest!r}, which also needs {missing}. Known formats: "
        + "; ".join(f"{n}: {list(cols)}" for n, cols in FORMATS.items())
    )


def _demeter(row: dict[str, str]) -> EventRecord:
    kind = row["tx_type"].upper()
    common: dict[str, Any] = dict(
        block_number=int(row["block_number"]),
        log_index=int(row["log_index"]),
        tx_index=int(row["tx_index"]),
        tx_hash=row["transaction_hash"],
        timestamp=int(datetime.fromisoformat(row["block_timestamp"]).replace(tzinfo=timezone.utc).timestamp()),
    )
    amounts = {"amount0": int(row["amount0"]), "amount1": int(row["amount1"])}
    if kind == "SWAP":
        return EventRecord(
            event="Swap",
            args={
                "sender": row["sender"],
                "recipient": row["receipt"],
                **amounts,
                "sqrtPriceX96": int(row["sqrtPriceX96"]),
                "liquidity": int(row["total_liquidity"]),
                "tick": _int(row["current_tick"]),
            },
            **common,
        )
    ticks = {"tickLower": _int(row["tick_lower"]), "tickUpper": _int(row["tick_upper"])}
    after = {"poolLiquidity": int(row["total_liquidity"]), "poolTick": _int(row["current_tick"])}  # the export's extras
    if kind == "MINT":
        return EventRecord(
            event="Mint",
            args={
                "sender": row["sender"],
                "owner": row["sender"],
                **ticks,
                "amount": int(row["liquidity"]),
                **amounts,
                **after,
            },
            **common,
        )
    if kind == "BURN":
        return EventRecord(
            event="Burn",
            args={"owner": row["sender"], **ticks, "amount": int(row["liquidity"] or 0), **amounts, **after},
            **common,
        )
    if kind == "COLLECT":
        return EventRecord(
            event="Collect",
            args={"owner": row["sender"], "recipient": row["receipt"], **ticks, **amounts, **after},
            **common,
        )
    raise EventDataError(
        f"tx_type {row['tx_type']!r} at block {row['block_number']} is not SWAP, MINT, BURN or COLLECT"
    )


def _subgraph_swap(row: dict[str, str], index: int, decimals: tuple[int, int]) -> EventRecord:
    tx_hash = row["id"].split("#")[0]
    return EventRecord(
        block_number=0,
        log_index=index,
        event="Swap",
        tx_hash=tx_hash,
        timestamp=int(row["timestamp"]),
        args={
            "amount0": int(Decimal(row["amount0"]) * 10 ** decimals[0]),
            "amount1": int(Decimal(row["amount1"]) * 10 ** decimals[1]),
            "sqrtPriceX96": int(Decimal(row["sqrtPriceX96"])),
            "liquidity": int(Decimal(row["liquidity"])),
            "tick": _int(row["tick"]),
        },
    )


def read_export(
    path: str | Path, decimals: tuple[int, int] = (USDC.decimals, WETH.decimals)
) -> tuple[list[EventRecord], dict[str, str]]:
    """Rows of a public export (its format found from its header) and the file's metadata.
    ``decimals`` are token0's and token1's (USDC/WETH by default), for exports in whole tokens."""
    path = Path(path)
    if not path.is_file():
        raise EventDataError(f"{path} does not exist")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        kind = detect_format(header, path)
        records = []
        for line, row in enumerate(reader, start=2):
            try:
                records.append(_demeter(row) if kind == "demeter" else _subgraph_swap(row, line - 2, decimals))
            except (ValueError, ArithmeticError) as err:
                raise EventDataError(f"{path}:{line}: cannot read this row ({err})") from None
    exact = "true" if kind == "demeter" else "false"
    return records, {
        "source": f"{kind} export {path.name}",
        "format": kind,
        "exact": exact,
        "order": "block" if kind == "demeter" else "file",
    }


def load_events(path: str | Path) -> tuple[list[EventRecord], dict[str, str]]:
    """An event file (parquet) or a public export (CSV), with its metadata."""
    from envs.data.events import event_metadata, read_events

    path = Path(path)
    if path.suffix.lower() == ".csv":
        return read_export(path)
    return read_events(path), event_metadata(path)
