"""Uniswap V3 swap throughput on the EVM rungs; prints one JSON object per line.

    python benchmarks/evm_throughput.py [--swaps N]

- ``evm``: pyrevm in-process, SwapRouter.exactInputSingle with pre-encoded calldata, and the same swaps
  encoded per call through ``Contract.transact`` (the ABI path an env's step takes);
- ``anvil``: raw JSON-RPC, fixed gas, one swap per block (eth_sendTransactionSync returns the
  receipt) and 100 swaps per block (automine off, then evm_mine);
- ``anvil`` through web3's defaults (gas estimation, receipt polling), for comparison.
Swaps alternate direction so the price stays in the seeded ranges.
"""

from __future__ import annotations

import argparse
import time

from report import emit

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.artifacts import load_artifact
from envs.contracts.market import Market, build_market
from envs.contracts.uniswap_v2 import DEADLINE
from envs.evm.anvil import AnvilChain
from envs.evm.chain import Chain, Tx
from envs.evm.revm import PyrevmChain

TRADER = DEV_ACCOUNTS[2]
FEE = 3000


def swap_txs(market: Market, n: int) -> list[Tx]:
    """``n`` pre-encoded swaps through SwapRouter, alternating WETH->USDC and USDC->WETH."""
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    usdc.mint(TRADER, 10**9 * 10**6)
    weth.mint(TRADER, 10**6 * 10**18)
    usdc.approve(TRADER, market.v3.router.address)
    weth.approve(TRADER, market.v3.router.address)
    legs = swap_legs(market)
    return [
        market.v3.router.tx("exactInputSingle", (a.address, b.address, FEE, TRADER, DEADLINE, amt, 0, 0), sender=TRADER)
        for a, b, amt in (legs[i % 2] for i in range(n))
    ]


def rate(chain: Chain, txs: list[Tx], batch: int = 1) -> float:
    start = time.perf_counter()
    if batch == 1:
        for tx in txs:
            chain.transact(tx)
    else:
        for i in range(0, len(txs), batch):
            results = chain.transact_batch(txs[i : i + batch])
            assert all(not isinstance(r, Exception) for r in results), results
    return len(txs) / (time.perf_counter() - start)


def encoded_rate(market: Market, n: int) -> float:
    """Swaps encoded per call through the Contract wrapper, as an env's step sends them."""
    router = market.v3.router
    legs = [(a.address, b.address, amt) for a, b, amt in swap_legs(market)]
    swap_txs(market, 0)  # fund and approve
    start = time.perf_counter()
    for i in range(n):
        a, b, amt = legs[i % 2]
        router.transact("exactInputSingle", (a, b, FEE, TRADER, DEADLINE, amt, 0, 0), sender=TRADER)
    return n / (time.perf_counter() - start)


def swap_legs(market: Market) -> list:
    """(token in, token out, raw amount in) of the two alternating swaps."""
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    return [(weth, usdc, 10**18), (usdc, weth, 1_900 * 10**6)]


def web3_rate(market: Market, n: int) -> float:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(market.chain.url))
    router = w3.eth.contract(address=market.v3.router.address, abi=load_artifact("SwapRouter").abi)
    legs = swap_legs(market)
    start = time.perf_counter()
    for i in range(n):
        a, b, amt = legs[i % 2]
        tx_hash = router.functions.exactInputSingle((a.address, b.address, FEE, TRADER, DEADLINE, amt, 0, 0)).transact(
            {"from": TRADER}
        )
        w3.eth.wait_for_transaction_receipt(tx_hash)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swaps", type=int, default=5_000, help="swaps per in-process measurement")
    args = parser.parse_args()

    evm = build_market(PyrevmChain())
    txs = swap_txs(evm, args.swaps)
    emit("v3_swap", "evm", 1, rate(evm.chain, txs), "swaps/s", swaps=len(txs))
    emit("v3_swap_batched", "evm", 1, rate(evm.chain, swap_txs(evm, args.swaps), batch=100), "swaps/s", per_block=100)
    emit(
        "v3_swap_encoded", "evm", 1, encoded_rate(evm, args.swaps), "swaps/s", swaps=args.swaps, via="Contract.transact"
    )

    with AnvilChain() as chain:
        anvil = build_market(chain)
        n = max(args.swaps // 5, 200)
        emit("v3_swap", "anvil", 1, rate(chain, swap_txs(anvil, n)), "swaps/s", swaps=n, via="raw JSON-RPC")
        emit(
            "v3_swap_batched",
            "anvil",
            1,
            rate(chain, swap_txs(anvil, n), batch=100),
            "swaps/s",
            per_block=100,
            via="raw JSON-RPC",
        )
        emit("v3_swap", "anvil-web3", 1, web3_rate(anvil, 200), "swaps/s", swaps=200, via="web3 defaults")


if __name__ == "__main__":
    main()
