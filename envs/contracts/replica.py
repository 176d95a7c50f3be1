"""A replica of Ethereum mainnet, offline: the contracts of ``address_books/ethereum.json`` at their real
addresses, on anvil with chain id 1, so the command a user runs against an archive RPC
(``backend.addresses=ethereum``) runs here too.

The contracts come from the protocols' npm artifacts. Each is deployed at a temporary address with
its real constructor arguments and then moved (``relocate``): its runtime code and storage are
written at the real address with ``anvil_setCode``/``anvil_setStorageAt``, and every reference to
the temporary address, in any contract's code (immutables) or storage, is rewritten to the real
one. Tokens move first, so the protocols are deployed knowing the tokens' real addresses and
nothing is keyed by a temporary token address. The Uniswap pools and the V2 pair are then created
by the relocated factories, which puts them at their real CREATE2 addresses (the npm init code is
mainnet's); the V3 pools start at their real price and in-range liquidity of a day of 2024
(``REAL_POOLS``), laid out in the local mainnet's ranges; the Aave reserves are listed and supplied.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

from envs.contracts.aave_v3 import AaveV3, deploy_aave_v3
from envs.contracts.accounts import DEPLOYER, LIQUIDITY_PROVIDER
from envs.contracts.address_book import address_book
from envs.contracts.localnet import ADDRESSES_FILE, STATE_FILE
from envs.contracts.market import (
    _AAVE,
    Market,
    MarketSpec,
    _fund,
    _seed_v3_pool,
    _with_price,
    protocol_handles,
    seed_v2_pair,
)
from envs.contracts.tokens import attach_token, deploy_tokens
from envs.contracts.uniswap_v2 import UniswapV2, deploy_uniswap_v2
from envs.contracts.uniswap_v3 import UniswapV3, deploy_uniswap_v3
from envs.evm.anvil import AnvilChain
from envs.units import Q96, USDC_UNIT, WETH_UNIT, to_raw

MAINNET_CHAIN_ID = 1
#: the USDC/WETH pools as they were on 2024-01-05 (USDC per ETH, in-range liquidity), from zelos-alpha/demeter-fetch's
#: exports (Apache-2.0) kept in the shared data folder: the 0.05% pool's first one-minute bar of the day
#: (usdc_weth_500_minute_2024-01-05.csv: openTick 199045, currentLiquidity), the 0.3% pool's first swap of the day
#: (usdc_weth_3000_events_2024-01-05.csv, block 18937547: sqrtPriceX96, total_liquidity)
REAL_POOLS: dict[int, tuple[float, int]] = {
    500: (WETH_UNIT / USDC_UNIT / 1.0001**199045, 12453647101533358277),
    3000: (WETH_UNIT / USDC_UNIT / (1661902247488239778583400955918697 / Q96) ** 2, 5876290753422535546),
}


def _state(chain: AnvilChain) -> dict:
    raw = bytes.fromhex(chain.dump_state()[2:])
    try:
        raw = gzip.decompress(raw)
    except OSError:
        pass  # anvil may hand the JSON back uncompressed
    return json.loads(raw)


def relocate(chain: AnvilChain, moves: dict[str, str]) -> None:
    """Move each contract ``temporary -> real`` and rewrite every reference to a temporary address, in
    every account's code and storage values, to its real one. Storage *keys* derived from a moved
    address (a mapping keyed by it) are not rewritten: move contracts before anything keys on them."""
    subs = [(t.lower().removeprefix("0x"), r.lower().removeprefix("0x")) for t, r in moves.items()]
    targets = {t.lower(): r for t, r in moves.items()}

    def patch(value: str) -> str:
        out = value.lower()
        for old, new in subs:
            out = out.replace(old, new)
        return out

    rpc = chain.rpc
    for address, account in _state(chain)["accounts"].items():
        code, storage = account.get("code", "0x"), account.get("storage", {})
        new_code = patch(code)
        new_storage = {k: patch(v) for k, v in storage.items()}
        target = targets.get(address.lower())
        if target is not None:
            rpc.request("anvil_setCode", [target, new_code])
            rpc.request("anvil_setNonce", [target, hex(max(1, int(str(account.get("nonce", 1)), 0)))])
            for key, value in new_storage.items():
                rpc.request("anvil_setStorageAt", [target, key, _word(value)])
            for key in storage:
                rpc.request("anvil_setStorageAt", [address, key, _word("0x0")])
            rpc.request("anvil_setCode", [address, "0x"])
            continue
        if new_code != code.lower():
            rpc.request("anvil_setCode", [address, new_code])
        for key, value in new_storage.items():
            if value != storage[key].lower():
                rpc.request("anvil_setStorageAt", [address, key, _word(value)])


def _word(value: str) -> str:
    return "0x" + int(value, 16).to_bytes(32, "big").hex()


def build_replica(out: str | Path, spec: MarketSpec | None = None) -> dict:
    """Build the replica on anvil (chain id 1) and write ``out/state.json`` and ``out/addresses.json``
    (the ``ethereum`` book plus the replica's price feeds and block), served by ``python -m envs.contracts serve``.
    Without ``spec`` the pools start at their real price and in-range liquidity of 2024-01-05
    (``REAL_POOLS``), laid out in the local mainnet's ranges, and the oracle prices WETH as the 0.05% pool."""
    if spec is None:
        defaults = MarketSpec()
        spec = replace(defaults, prices_usd=defaults.prices_usd | {"WETH": REAL_POOLS[500][0]})
        real = REAL_POOLS
    else:
        real = {}
    book = address_book("ethereum")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = out / STATE_FILE
    with AnvilChain(chain_id=MAINNET_CHAIN_ID, dump_state=state, log_path=out / "anvil-build.log") as chain:
        market = _build(chain, book, spec, real)
        addresses = market.addresses()
        addresses["name"] = "ethereum-replica"
        addresses["block_number"] = chain.block_number()
    if not state.is_file():
        raise RuntimeError(f"anvil did not write its state to {state}; see {out / 'anvil-build.log'}")
    (out / ADDRESSES_FILE).write_text(json.dumps(addresses, indent=2) + "\n")
    return addresses


def _build(chain: AnvilChain, book: dict, spec: MarketSpec, real: dict[int, tuple[float, int]]) -> Market:
    real_tokens = {s: t["address"] for s, t in book["tokens"].items()}
    temp = deploy_tokens(chain)
    relocate(chain, {temp[s].address: real_tokens[s] for s in temp})
    tokens = {s: attach_token(chain, real_tokens[s], t.asset) for s, t in temp.items()}

    u2, u3, a3 = book["uniswap_v2"], book["uniswap_v3"], book["aave_v3"]
    v2 = deploy_uniswap_v2(chain, tokens["WETH"])
    v3 = deploy_uniswap_v3(chain, tokens["WETH"])
    aave = deploy_aave_v3(chain, tokens, {s: _with_price(_AAVE[s], spec.prices_usd[s]) for s in tokens})
    moves = {
        v2.factory.address: u2["factory"],
        v2.router.address: u2["router02"],
        v3.factory.address: u3["factory"],
        v3.position_manager.address: u3["nonfungible_position_manager"],
        v3.router.address: u3["swap_router"],
        v3.quoter.address: u3["quoter_v2"],
        v3.tick_lens.address: u3["tick_lens"],
        aave.addresses_provider.address: a3["pool_addresses_provider"],
        aave.acl_manager.address: a3["acl_manager"],
        aave.pool.address: a3["pool"],
        aave.configurator.address: a3["pool_configurator"],
        aave.oracle.address: a3["oracle"],
        aave.data_provider.address: a3["protocol_data_provider"],
    }
    relocate(chain, moves)

    v2, v3, aave = protocol_handles(chain, book, aave.aggregators)
    return _seed(chain, book, tokens, v2, v3, aave, spec, real)


def _seed_pool_like(chain, v3: UniswapV3, usdc, weth, fee: int, spec: MarketSpec, real: dict[int, tuple[float, int]]):
    """A V3 pool seeded at ``real[fee]``'s price with the profile scaled to its in-range liquidity (found
    by seeding $1M once, reading the pool's liquidity and reverting), or as ``spec`` says without data."""
    value_usd, profile = spec.v3_laid(fee)
    if fee not in real:
        eth_in_usdc = spec.prices_usd["WETH"] / spec.prices_usd["USDC"]
        return _seed_v3_pool(v3, usdc, weth, fee, eth_in_usdc, spec, value_usd, profile)
    price, liquidity = real[fee]
    trial = 1_000_000.0
    snap = chain.snapshot()
    unit = _seed_v3_pool(v3, usdc, weth, fee, price, spec, trial, profile).call("liquidity")
    chain.revert(snap)
    return _seed_v3_pool(v3, usdc, weth, fee, price, spec, trial * liquidity / unit, profile)


def _seed(
    chain,
    book: dict,
    tokens,
    v2: UniswapV2,
    v3: UniswapV3,
    aave: AaveV3,
    spec: MarketSpec,
    real: dict[int, tuple[float, int]],
) -> Market:
    """Pools and pair created by the real factories (at their CREATE2 addresses), then seeded."""
    usdc, weth = tokens["USDC"], tokens["WETH"]
    seed_v2_pair(v2, usdc, weth, spec)
    pools = {fee: _seed_pool_like(chain, v3, usdc, weth, fee, spec, real) for fee in spec.v3_fee_tiers}
    for s, token in tokens.items():
        raw = to_raw(spec.aave_supply_usd / spec.prices_usd[s], token.decimals)
        _fund(token, raw)
        aave.supply(LIQUIDITY_PROVIDER, token, raw)
    market = Market(chain, tokens, v2, v3, aave, pools)
    expected = {
        **{f"uniswap_v3.pools.USDC/WETH/{fee}": book["uniswap_v3"]["pools"].get(f"USDC/WETH/{fee}") for fee in pools},
        "uniswap_v2.pairs.USDC/WETH": book["uniswap_v2"]["pairs"]["USDC/WETH"],
    }
    got = {
        **{f"uniswap_v3.pools.USDC/WETH/{fee}": p.address for fee, p in pools.items()},
        "uniswap_v2.pairs.USDC/WETH": v2.pair(usdc, weth).address,
    }
    if got != expected:
        raise RuntimeError(f"the replica's pools are not at the book's addresses: {got} != {expected}")
    assert DEPLOYER  # the replica's admin is the local deployer account (ACL admin, factory owner)
    return market
