"""Address books: where a chain's markets are, by name, in the shape of the local mainnet's addresses.json.

A book names a chain id, the tokens (address and decimals), Uniswap V2 and V3 and Aave V3. The
books shipped in ``address_books/`` are looked up by name (``ethereum``); any other book is a path
to a JSON file, or to a folder holding ``addresses.json`` (what ``build-localnet`` writes), so the
local mainnet's addresses are just another book. ``attach_book`` checks that a chain holds the
book's contracts before handing out :class:`~envs.contracts.market.Market` handles on them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_utils import is_address

from envs.contracts.market import Market, attach_market
from envs.evm.chain import Chain

BOOKS_DIR = Path(__file__).parent / "address_books"
#: every key a book must hold (dotted paths); ``tokens`` needs USDC, WETH and WBTC each with address and decimals
REQUIRED = (
    "chain_id",
    "uniswap_v2.factory",
    "uniswap_v2.router02",
    "uniswap_v2.pairs",
    "uniswap_v3.factory",
    "uniswap_v3.nonfungible_position_manager",
    "uniswap_v3.swap_router",
    "uniswap_v3.quoter_v2",
    "uniswap_v3.tick_lens",
    "uniswap_v3.pools",
    "aave_v3.pool_addresses_provider",
    "aave_v3.acl_manager",
    "aave_v3.pool",
    "aave_v3.pool_configurator",
    "aave_v3.oracle",
    "aave_v3.protocol_data_provider",
)
TOKENS = ("USDC", "WETH", "WBTC")
#: keys that describe a book rather than name a contract
META_KEYS = ("name", "sources", "block_number", "price_feeds")


class AddressBookError(ValueError):
    """A book that cannot be read, lacks a key, or does not match the chain it is used on."""


def book_names() -> list[str]:
    """The books shipped with the project, by name."""
    return sorted(p.stem for p in BOOKS_DIR.glob("*.json"))


def address_book(name_or_path: str | Path) -> dict:
    """Load and check a book: a shipped name (``ethereum``), a JSON file, or a folder with ``addresses.json``."""
    text = str(name_or_path)
    path = BOOKS_DIR / f"{text}.json" if text in book_names() else Path(text)
    if path.is_dir():
        path = path / "addresses.json"
    if not path.is_file():
        raise AddressBookError(
            f"backend.addresses={text!r} is neither a known address book ({', '.join(book_names())}) nor a JSON "
            f"file: pass a book's name, or the path of an addresses.json (a local mainnet's, "
            f"`python -m envs.contracts build-localnet --out DIR` writes DIR/addresses.json)"
        )
    try:
        book = json.loads(path.read_text())
    except ValueError as err:
        raise AddressBookError(f"address book {path} is not valid JSON: {err}") from None
    check_book(book, str(path))
    book.setdefault("name", path.stem if path.name != "addresses.json" else str(path.parent))
    return book


def _get(book: dict, dotted: str) -> Any:
    node: Any = book
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def check_book(book: dict, where: str = "the address book") -> None:
    """Every required key present, every address well formed; the first fault raises, naming the key."""
    if not isinstance(book, dict):
        raise AddressBookError(f"{where} must be a JSON object like address_books/ethereum.json")
    for key in REQUIRED:
        try:
            _get(book, key)
        except KeyError:
            raise AddressBookError(
                f"{where} has no {key!r}: add it (see envs/contracts/address_books/ethereum.json "
                f"for the shape every book has)"
            ) from None
    if not isinstance(book["chain_id"], int):
        raise AddressBookError(f"{where}: chain_id must be an integer, got {book['chain_id']!r}")
    for symbol in TOKENS:
        token = book.get("tokens", {}).get(symbol)
        if not isinstance(token, dict) or "address" not in token or not isinstance(token.get("decimals"), int):
            raise AddressBookError(
                f"{where} has no tokens.{symbol} with an address and integer decimals: add "
                f'"{symbol}": {{"address": "0x...", "decimals": N}} under "tokens"'
            )
    for key, address in contract_addresses(book).items():
        if not (isinstance(address, str) and is_address(address)):
            raise AddressBookError(f"{where}: {key}={address!r} is not an address (0x and 40 hex digits)")


def contract_addresses(book: dict) -> dict[str, str]:
    """Every contract a book names, by dotted key (``uniswap_v3.pools.USDC/WETH/500`` -> its address)."""
    out: dict[str, str] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if prefix == "" and key in META_KEYS or prefix.endswith("price_feeds."):
                continue
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif key == "address" or (isinstance(value, str) and value.startswith("0x")):
                out[prefix.rstrip(".") if key == "address" else prefix + key] = value

    walk({k: v for k, v in book.items() if k not in ("chain_id",)}, "")
    return out


def check_code(chain: Chain, book: dict, block: int | None = None) -> None:
    """Raise unless ``chain`` has ``book``'s chain id and code at every address the book names."""
    name = book.get("name", "the address book")
    if chain.chain_id != book["chain_id"]:
        raise AddressBookError(
            f"address book {name!r} is for chain id {book['chain_id']}, but the chain is "
            f"{chain.chain_id}: fork a node of chain {book['chain_id']} "
            f"(backend.fork_url), or pass the book of this chain (backend.addresses)"
        )
    missing = [f"{key} ({address})" for key, address in contract_addresses(book).items() if not chain.get_code(address)]
    if missing:
        at = f" at block {block}" if block is not None else ""
        raise AddressBookError(
            f"no contract code{at} at {len(missing)} of address book {name!r}'s addresses: {', '.join(missing)}. "
            f"This chain does not hold the book's market: fork the chain the book is for, at a block after "
            f"these contracts were deployed (backend.fork_url, backend.fork_block)"
        )


def attach_book(chain: Chain, book: dict, block: int | None = None) -> Market:
    """Handles on the market ``book`` names, after checking the chain holds it; nothing is deployed."""
    check_code(chain, book, block)
    return attach_market(chain, book)
