"""The local market: tokens, Uniswap V2 and V3 pools with liquidity, and a seeded Aave V3 market.

``build_market`` deploys it on any :class:`Chain`; ``Market.addresses()`` is what
``addresses.json`` holds, and ``attach_market`` rebuilds the handles from it on any chain that
has the contracts (the served local mainnet, a fork of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envs.assets import aave_reserve_params
from envs.contracts.aave_v3 import AaveV3, deploy_aave_v3
from envs.contracts.accounts import LIQUIDITY_PROVIDER
from envs.contracts.contract import Contract
from envs.contracts.tokens import Token, attach_token, deploy_tokens
from envs.contracts.uniswap_v2 import UniswapV2, deploy_uniswap_v2
from envs.contracts.uniswap_v3 import UniswapV3, deploy_uniswap_v3
from envs.evm.chain import Chain
from envs.liquidity_profile import DEFAULT_LIQUIDITY_PROFILE, LiquidityProfile, profile_ticks
from envs.units import (
    BASE_UNIT,
    TICK_SPACING,
    USDC,
    WETH,
    Asset,
    pool_price,
    price_to_sqrt_price_x96,
    price_to_tick,
    to_raw,
)

_AAVE = aave_reserve_params()


def _snapshot_price(symbol: str) -> float:
    return _AAVE[symbol].price_usd_8dec / BASE_UNIT


@dataclass
class MarketSpec:
    """What the local market holds. Prices default to Aave's oracle on 2025-03-19."""

    prices_usd: dict[str, float] = field(
        default_factory=lambda: {s: _snapshot_price(s) for s in ("USDC", "WETH", "WBTC")}
    )
    v3_fee_tiers: tuple[int, ...] = (500, 3000)  # USDC/WETH pools
    v3_pool_value_usd: float = 20_000_000.0  # value minted into each V3 pool across the profile
    liquidity_profile: tuple[tuple[float | None, float], ...] = DEFAULT_LIQUIDITY_PROFILE
    #: (fee tier, value, profile) of each V3 pool laid otherwise than ``v3_pool_value_usd`` over
    #: ``liquidity_profile`` (a pool beside a world's own)
    v3_pools_laid: tuple[tuple[int, float, LiquidityProfile], ...] = ()
    v2_pool_value_usd: float = 10_000_000.0  # USDC/WETH pair
    aave_supply_usd: float = 50_000_000.0  # supplied to each Aave reserve by the liquidity provider

    def __post_init__(self) -> None:
        for s in ("USDC", "WETH", "WBTC"):
            if self.prices_usd.get(s, 0) <= 0:
                raise ValueError(f"prices_usd[{s!r}] must be a positive USD price, got {self.prices_usd.get(s)}")
        for fee in self.v3_fee_tiers:
            if fee not in TICK_SPACING:
                raise ValueError(f"v3 fee tier {fee} is not one of {sorted(TICK_SPACING)}")
        for tier, value_usd, profile in (
            ("every", self.v3_pool_value_usd, self.liquidity_profile),
            *self.v3_pools_laid,
        ):
            if tier != "every" and tier not in self.v3_fee_tiers:
                raise ValueError(f"v3_pools_laid names fee tier {tier}, which v3_fee_tiers {self.v3_fee_tiers} lacks")
            if value_usd <= 0:
                raise ValueError(f"a V3 pool's value must be positive, got {value_usd} (fee tier: {tier})")
            if abs(sum(w for _, w in profile) - 1) > 1e-9:
                raise ValueError(f"liquidity_profile shares must add up to 1 (fee tier: {tier})")

    def v3_laid(self, fee: int) -> tuple[float, LiquidityProfile]:
        """(value, liquidity profile) the V3 pool of tier ``fee`` is laid with."""
        laid = {tier: (value_usd, profile) for tier, value_usd, profile in self.v3_pools_laid}
        return laid.get(fee, (self.v3_pool_value_usd, self.liquidity_profile))


@dataclass
class Market:
    chain: Chain
    tokens: dict[str, Token]
    v2: UniswapV2
    v3: UniswapV3
    aave: AaveV3
    v3_pools: dict[int, Contract]  # fee tier -> USDC/WETH pool

    def addresses(self) -> dict:
        """Every contract by name, with token decimals and the chain id: the content of addresses.json."""
        return {
            "chain_id": self.chain.chain_id,
            "tokens": {s: {"address": t.address, "decimals": t.decimals} for s, t in self.tokens.items()},
            "uniswap_v2": {
                "factory": self.v2.factory.address,
                "router02": self.v2.router.address,
                "pairs": {"USDC/WETH": self.v2.pair(self.tokens["USDC"], self.tokens["WETH"]).address},
            },
            "uniswap_v3": {
                "factory": self.v3.factory.address,
                "nonfungible_position_manager": self.v3.position_manager.address,
                "swap_router": self.v3.router.address,
                "quoter_v2": self.v3.quoter.address,
                "tick_lens": self.v3.tick_lens.address,
                "pools": {f"USDC/WETH/{fee}": p.address for fee, p in self.v3_pools.items()},
            },
            "aave_v3": {
                "pool_addresses_provider": self.aave.addresses_provider.address,
                "acl_manager": self.aave.acl_manager.address,
                "pool": self.aave.pool.address,
                "pool_configurator": self.aave.configurator.address,
                "oracle": self.aave.oracle.address,
                "protocol_data_provider": self.aave.data_provider.address,
                "price_feeds": {s: a.address for s, a in self.aave.aggregators.items()},
            },
        }


def build_market(chain: Chain, spec: MarketSpec | None = None) -> Market:
    """Deploy and seed the whole market on ``chain``."""
    spec = spec or MarketSpec()
    tokens = deploy_tokens(chain)
    v2 = deploy_uniswap_v2(chain, tokens["WETH"])
    v3 = deploy_uniswap_v3(chain, tokens["WETH"])
    aave = deploy_aave_v3(chain, tokens, {s: _with_price(_AAVE[s], spec.prices_usd[s]) for s in tokens})
    usdc, weth = tokens["USDC"], tokens["WETH"]
    eth_in_usdc = spec.prices_usd["WETH"] / spec.prices_usd["USDC"]

    seed_v2_pair(v2, usdc, weth, spec)

    pools = {
        fee: _seed_v3_pool(v3, usdc, weth, fee, eth_in_usdc, spec, *spec.v3_laid(fee)) for fee in spec.v3_fee_tiers
    }

    for s, token in tokens.items():
        raw = to_raw(spec.aave_supply_usd / spec.prices_usd[s], token.decimals)
        _fund(token, raw)
        aave.supply(LIQUIDITY_PROVIDER, token, raw)
    return Market(chain, tokens, v2, v3, aave, pools)


def seed_v2_pair(v2: UniswapV2, usdc: Token, weth: Token, spec: MarketSpec) -> None:
    """Create the USDC/WETH pair and add ``spec.v2_pool_value_usd`` of liquidity, half each side."""
    half = spec.v2_pool_value_usd / 2
    _fund(usdc, USDC.raw(half / spec.prices_usd["USDC"]))
    _fund(weth, WETH.raw(half / spec.prices_usd["WETH"]))
    v2.create_pair(usdc, weth)
    v2.add_liquidity(
        LIQUIDITY_PROVIDER, usdc, weth, usdc.balance_of(LIQUIDITY_PROVIDER), weth.balance_of(LIQUIDITY_PROVIDER)
    )


def _with_price(p, price_usd: float):
    from dataclasses import replace

    return replace(p, price_usd_8dec=round(price_usd * BASE_UNIT))


def _fund(token: Token, raw: int) -> None:
    token.mint(LIQUIDITY_PROVIDER, raw)


def _seed_v3_pool(
    v3: UniswapV3,
    usdc: Token,
    weth: Token,
    fee: int,
    eth_in_usdc: float,
    spec: MarketSpec,
    value_usd: float,
    profile: LiquidityProfile,
) -> Contract:
    """Create the USDC/WETH pool at ``eth_in_usdc`` and mint ``value_usd`` over the liquidity profile around it
    (``spec`` gives the tokens' prices)."""
    token0, token1 = sorted((usdc, weth), key=lambda t: int(t.address, 16))
    base_is_token0 = token0 is weth
    raw_price = pool_price(eth_in_usdc, base_is_token0, token0.decimals, token1.decimals)
    pool = v3.create_pool(token0, token1, fee, price_to_sqrt_price_x96(raw_price))
    spacing, center = TICK_SPACING[fee], price_to_tick(raw_price)
    for half_width, share in profile:
        lower, upper = profile_ticks(center, spacing, half_width)
        range_usd = value_usd * share
        raw_usdc = USDC.raw(range_usd / 2 / spec.prices_usd["USDC"])
        raw_weth = WETH.raw(range_usd / 2 / spec.prices_usd["WETH"])
        _fund(usdc, raw_usdc)
        _fund(weth, raw_weth)
        raw0, raw1 = (raw_usdc, raw_weth) if token0 is usdc else (raw_weth, raw_usdc)
        v3.mint(LIQUIDITY_PROVIDER, token0, token1, fee, lower, upper, raw0, raw1)
    return pool


def attach_market(chain: Chain, addresses: dict) -> Market:
    """Handles on a market already on ``chain`` (from ``addresses.json``), checking the chain has it."""
    if chain.chain_id != addresses["chain_id"]:
        raise ValueError(f"addresses.json is for chain id {addresses['chain_id']}, but the chain is {chain.chain_id}")
    tokens = {s: attach_token(chain, t["address"], Asset(s, t["decimals"])) for s, t in addresses["tokens"].items()}
    for s, t in tokens.items():
        if not chain.get_code(t.address):
            raise ValueError(
                f"no contract at {s}'s address {t.address}: this chain does not hold the market "
                f"these addresses describe (wrong state file, or fork of the wrong chain?)"
            )
    v2, v3, aave = protocol_handles(chain, addresses)
    pools = {
        int(name.rsplit("/", 1)[1]): Contract(chain, a, "UniswapV3Pool")
        for name, a in addresses["uniswap_v3"]["pools"].items()
    }
    return Market(chain, tokens, v2, v3, aave, pools)


def protocol_handles(
    chain: Chain, addresses: dict, aggregators: dict | None = None
) -> tuple[UniswapV2, UniswapV3, AaveV3]:
    """Handles on the Uniswap V2, V3 and Aave V3 contracts an address book names; the oracle's price feeds
    are ``aggregators`` when given, else the book's ``price_feeds``."""
    u2, u3, a3 = addresses["uniswap_v2"], addresses["uniswap_v3"], addresses["aave_v3"]
    v2 = UniswapV2(
        Contract(chain, u2["factory"], "UniswapV2Factory"), Contract(chain, u2["router02"], "UniswapV2Router02")
    )
    v3 = UniswapV3(
        Contract(chain, u3["factory"], "UniswapV3Factory"),
        Contract(chain, u3["nonfungible_position_manager"], "NonfungiblePositionManager"),
        Contract(chain, u3["swap_router"], "SwapRouter"),
        Contract(chain, u3["quoter_v2"], "QuoterV2"),
        Contract(chain, u3["tick_lens"], "TickLens"),
    )
    feeds = (
        aggregators
        if aggregators is not None
        else {s: Contract(chain, a, "MockAggregator") for s, a in a3.get("price_feeds", {}).items()}
    )
    aave = AaveV3(
        Contract(chain, a3["pool_addresses_provider"], "PoolAddressesProvider"),
        Contract(chain, a3["acl_manager"], "ACLManager"),
        Contract(chain, a3["pool"], "Pool"),
        Contract(chain, a3["pool_configurator"], "PoolConfigurator"),
        Contract(chain, a3["oracle"], "AaveOracle"),
        Contract(chain, a3["protocol_data_provider"], "AaveProtocolDataProvider"),
        feeds,
    )
    return v2, v3, aave
