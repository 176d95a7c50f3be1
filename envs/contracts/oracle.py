"""Move an Aave V3 market's price of an asset on a fork through the oracle's own mechanism.

AaveOracle reads each asset's price from its source (a Chainlink feed on mainnet). On a fork the
ACL admin (``PoolAddressesProvider.getACLAdmin``: governance's executor on mainnet, the deployer on
the local chains) is impersonated, made an asset-listing admin, and points the asset's source at a
controllable aggregator, whose answer ``AaveV3.set_price`` then writes as a Chainlink round would.
The Pool, its reserves and every position stay as the chain holds them.
"""

from __future__ import annotations

from envs.contracts.aave_v3 import AaveV3
from envs.contracts.contract import Contract, deploy
from envs.contracts.tokens import Token
from envs.evm.chain import GAS_ETH


def control_price(aave: AaveV3, token: Token, price_usd_8dec: int) -> Contract:
    """Point ``token``'s oracle source at a new aggregator answering ``price_usd_8dec``; returns it
    (also kept in ``aave.aggregators`` so ``aave.set_price`` moves it)."""
    if price_usd_8dec <= 0:
        raise ValueError(f"oracle price of {token.symbol} must be positive, got {price_usd_8dec}")
    chain = aave.chain
    admin = aave.addresses_provider.call("getACLAdmin")
    if int(admin, 16) == 0:
        raise ValueError(
            f"PoolAddressesProvider {aave.addresses_provider.address} has no ACL admin: "
            f"the oracle's sources cannot be changed on this market"
        )
    chain.set_balance(admin, max(chain.get_balance(admin), GAS_ETH))  # gas for the impersonated admin
    acl = aave.acl_manager
    if not (acl.call("isAssetListingAdmin", admin) or acl.call("isPoolAdmin", admin)):
        acl.transact("addAssetListingAdmin", admin, sender=admin)
    feed = deploy(chain, "MockAggregator", price_usd_8dec)  # from a development account: any sender will do
    aave.oracle.transact("setAssetSources", [token.address], [feed.address], sender=admin)
    aave.aggregators[token.symbol] = feed
    return feed
