"""An Aave market's price on a fork, moved through AaveOracle's own sources by the impersonated ACL admin."""

from __future__ import annotations

import pytest

from envs.contracts.accounts import DEPLOYER
from envs.contracts.address_book import address_book, attach_book
from envs.contracts.balances import Dealer
from envs.contracts.localnet import serve_localnet
from envs.contracts.oracle import control_price
from envs.contracts.replica import build_replica
from envs.evm.anvil import AnvilChain
from envs.evm.revm import PyrevmChain

USER = "0x" + "7e" * 20


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory):
    out = tmp_path_factory.mktemp("replica")
    build_replica(out)
    with serve_localnet(out) as node:
        yield node.url


@pytest.mark.parametrize("rung", ["evm", "anvil"])
@pytest.mark.parametrize("admin_is_a_contract", [False, True])
def test_the_oracle_follows_a_controlled_source_and_the_pool_prices_positions_by_it(
    replica_url, rung, admin_is_a_contract
):
    chain = PyrevmChain(fork_url=replica_url, chain_id=1) if rung == "evm" else AnvilChain(fork_url=replica_url)
    try:
        m = attach_book(chain, address_book("ethereum"))
        aave, weth, usdc = m.aave, m.tokens["WETH"], m.tokens["USDC"]
        if admin_is_a_contract:  # as on mainnet, where the ACL admin is governance's executor contract
            executor = m.v3.tick_lens.address  # any address with code stands in for it
            aave.addresses_provider.transact("setACLAdmin", executor, sender=DEPLOYER)
            aave.acl_manager.transact("grantRole", bytes(32), executor, sender=DEPLOYER)
            aave.acl_manager.transact("removePoolAdmin", DEPLOYER, sender=DEPLOYER)
        chain.set_balance(USER, 10**18)
        Dealer(chain).deal(weth, USER, 10 * 10**18)
        aave.supply(USER, weth, 10 * 10**18)
        aave.borrow(USER, usdc, 10_000 * 10**6)
        before = aave.user_account_data(USER)["health_factor"]
        old_source = aave.oracle.call("getSourceOfAsset", weth.address)
        feed = control_price(aave, weth, 2_000 * 10**8)
        assert aave.oracle.call("getSourceOfAsset", weth.address).lower() == feed.address.lower() != old_source.lower()
        assert aave.price(weth) == 2_000 * 10**8
        aave.set_price("WETH", 1_000 * 10**8)  # a Chainlink round on the controlled feed
        assert aave.price(weth) == 1_000 * 10**8
        after = aave.user_account_data(USER)["health_factor"]
        # 10 WETH at $1,000, liquidation threshold 83%, $10,000 owed: HF 0.83, and below the old one
        assert after == pytest.approx(0.83e18, rel=1e-3) and after < before
    finally:
        chain.close()
