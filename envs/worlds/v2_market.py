"""The one interface the Uniswap V2 LP role uses, whatever the backend: a USDC/WETH pair (USDC is
token0; the ``v2_pair`` component) with an arbitrageur and noise traders, and one LP agent with a wallet and
pair shares. Raw token units, (N,) float64; the arbitrage rule and the pair's use are written once here."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from envs.protocols.uniswap_v2.library import FEE_BPS, get_amount_in_to_price, get_amount_out
from envs.units import BPS, USDC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import BlockAccounts
from envs.worlds.ledger import Ledger
from envs.worlds.lending_pool import AGENT as LP_AGENT_WALLET
from envs.worlds.market import ARBITRAGEUR_WALLET, FLOW_WALLET
from envs.worlds.toy_flow import NoiseOrders, noise_orders
from envs.worlds.v2_pair import UniswapV2Pair
from envs.worlds.v3_pool import Wallet
from envs.worlds.v3_pool_side import V3PoolBeside, pool_beside_params
from envs.worlds.world import World

RAW_PRICE = WETH_UNIT / USDC_UNIT  # raw WETH per raw USDC at $1 per ETH
#: the wallets that trade the pair: the LP agent's, the arbitrageur's, the noise traders' (the names every world's
#: wallets go by)
AGENT, ARBITRAGEUR, NOISE = LP_AGENT_WALLET, ARBITRAGEUR_WALLET, FLOW_WALLET
WALLETS = (AGENT, ARBITRAGEUR, NOISE)


@dataclass(frozen=True)
class V2WorldParams:
    """The pair's depth and the flow around it (noise as in the V3 world)."""

    pool_value_usd: float = 10_000_000.0  # what build_market deposits into the USDC/WETH pair
    noise_traders: int = 2
    noise_trade_usd: float = 5_000.0
    #: a Uniswap V3 USDC/WETH pool of this value beside the pair (0: none), at fee tier ``v3_pool_beside_fee_pips``,
    #: laid over the default liquidity profile at the start price and traded each block after the pair by its own
    #: arbitrageur and ``noise_traders`` toy swaps (``envs.worlds.v3_pool_side``)
    v3_pool_beside_usd: float = 0.0
    v3_pool_beside_fee_pips: int = 500

    def __post_init__(self):
        if self.pool_value_usd <= 0 or self.noise_trade_usd < 0 or self.noise_traders < 0:
            raise ValueError("pool_value_usd must be positive; noise_traders and noise_trade_usd non-negative")
        self.v3_pool_beside()  # checks its value and tier

    def v3_pool_beside(self) -> V3PoolBeside | None:
        """The V3 pool beside the pair (``v3_pool_beside_usd``), with the pair's noise traders; None: none."""
        return pool_beside_params(self.v3_pool_beside_usd, self.v3_pool_beside_fee_pips, self)


def band_trade(reserve_usdc, reserve_weth, reference_usd) -> tuple[np.ndarray, np.ndarray]:
    """(sell USDC?, raw amount in) that takes the pair's price to the nearer edge of its no-trade band
    [reference x (1 - fee), reference / (1 - fee)]; 0 inside it (the pair's spot is reserve ratio)."""
    g = 1 - FEE_BPS / BPS
    price = reserve_usdc / reserve_weth * RAW_PRICE  # USD per WETH
    sell_usdc = price < reference_usd * g  # WETH is cheap in the pair: buy it with USDC
    buy_in = get_amount_in_to_price(reserve_usdc, reserve_weth, RAW_PRICE / (reference_usd * g))
    sell_in = get_amount_in_to_price(reserve_weth, reserve_usdc, reference_usd / g / RAW_PRICE)
    return sell_usdc, np.floor(np.where(sell_usdc, buy_in, sell_in))


def seed_reserves(value_usd: float, reference_usd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(USDC, WETH) raw a pair worth ``value_usd`` holds at the reference price, half each side, as ``build_market``
    seeds the local mainnet's pair."""
    half = value_usd / 2
    return np.full(len(reference_usd), np.floor(half * USDC_UNIT)), np.floor(half / reference_usd * WETH_UNIT)


def pair_price(pair: UniswapV2Pair) -> np.ndarray:
    """(N,) USD per WETH in the pair: its reserves' ratio."""
    usdc, weth = pair.reserves()
    return usdc / weth * RAW_PRICE


def pair_quote(pair: UniswapV2Pair, sell_usdc: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """What an exact-input swap of ``raw`` would get from ``pair`` as it stands (UniswapV2Library.getAmountOut)."""
    usdc, weth = pair.reserves()
    return np.where(sell_usdc, get_amount_out(raw, usdc, weth), get_amount_out(raw, weth, usdc))


def trade_pair(
    pair: UniswapV2Pair, ledger: Ledger, wallet: str, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """An exact-input swap through ``pair`` from ``wallet``, booked to it in ``ledger``: (paid, got), raw."""
    paid, got = pair.swap(wallet, sell_usdc, raw, mask)
    ledger.moved(wallet, np.where(sell_usdc, -paid, got), np.where(sell_usdc, got, -paid))
    return paid, got


def pair_flows(pair: UniswapV2Pair, ledger: Ledger, reference_usd: np.ndarray, noise: NoiseOrders) -> None:
    """A pair's scripted flows of a block, after the reference moved: the arbitrageur trades it to its no-trade
    band's edge (``band_trade``), then the noise traders' orders ``noise`` swap; each booked in ``ledger``."""
    sell_usdc, amount = band_trade(*pair.reserves(), reference_usd)
    trade_pair(pair, ledger, ARBITRAGEUR, sell_usdc, amount, amount > 0)
    for sell_usdc, raw in noise:
        trade_pair(pair, ledger, NOISE, sell_usdc, raw, raw > 0)


class UniswapV2Market(World):
    """A world with a USDC/WETH pair (``v2_pair``, the component its backend gives), an arbitrageur, noise traders
    and one LP agent whose wallet is the world's ledger's (``agent_wallet_raw``)."""

    SWAP_GAS = "v2_swap"  # a swap through the pair: Router02.swapExactTokensForTokens (``envs.assets.gas``)
    v2_pair: UniswapV2Pair
    params: V2WorldParams
    lp: str = AGENT  # the LP agent's wallet (a lending side's name for it)
    accounts: BlockAccounts | None = None  # a V2 world keeps no block accounts

    @property
    def lp_agents(self) -> int:
        """The one LP agent."""
        return 1

    def start(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """Start the price paths and the clock, seed the pair, fund the agent with ``agent_usd``, half USDC, half
        WETH (``open_pair``)."""
        if agent_usd is None:
            raise ValueError("the V2 world funds its LP agent: reset(rng, agent_usd=...) gives its capital in USD")
        self.clock = np.zeros(self.n)
        self.open_pair(rng, agent_usd)

    @abstractmethod
    def open_pair(self, rng: np.random.Generator, agent_usd: float) -> None:
        """The backend's start: the price paths, the pair seeded, the agent funded."""

    def agent_wallet_raw(self) -> tuple[np.ndarray, np.ndarray]:
        """Idle (USDC, WETH) the agent holds, raw."""
        return self.ledger.balances(AGENT)

    # --- the pair, through the component ----------------------------------------------------
    def reserves(self) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) in the pair, raw."""
        return self.v2_pair.reserves()

    def shares(self) -> tuple[np.ndarray, np.ndarray]:
        """(the agent's LP shares, total supply), raw."""
        return self.v2_pair.shares(AGENT)

    def swap(self, who: str, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact-input swap through the pair from ``who`` ("agent", "arbitrageur", "noise"): (paid, got)."""
        if who not in WALLETS:
            raise ValueError(f"unknown wallet {who!r}: the V2 market's wallets are {list(WALLETS)}")
        if who == AGENT:  # no more than the wallet holds of what it sells
            usdc, weth = self.agent_wallet_raw()
            raw = np.minimum(raw, np.where(sell_usdc, usdc, weth))
        return self.trade(who, who, sell_usdc, raw, mask=mask)

    def trade(
        self,
        group: str,
        wallet: Wallet,
        sell_usdc: np.ndarray,
        raw: np.ndarray,
        *,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap through the pair from ``wallet`` (a name: the pair's world has no slots), booked to
        it; ``group`` names the swapper for block accounts, which a V2 world does not keep. Returns (paid, got), raw:
        what a lending side held here swaps through."""
        if not isinstance(wallet, str):
            raise ValueError(f"a V2 pair's world has no wallet slots: it swaps from named wallets, not slot {wallet}")
        return trade_pair(
            self.v2_pair, self.ledger, wallet, sell_usdc, raw, np.ones(self.n, bool) if mask is None else mask
        )

    def quote(self, wallet: Wallet, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """What ``trade`` would get from the pair as it stands, raw (``pair_quote``)."""
        return pair_quote(self.v2_pair, sell_usdc, np.where(mask, raw, 0.0))

    def add_liquidity(self, usdc_raw: np.ndarray, weth_raw: np.ndarray, mask: np.ndarray) -> None:
        """The agent deposits up to these amounts at the pair's ratio (Router02.addLiquidity)."""
        usdc, weth = self.agent_wallet_raw()  # no more than the wallet holds
        usdc_raw, weth_raw = np.clip(usdc_raw, 0.0, usdc), np.clip(weth_raw, 0.0, weth)
        used_usdc, used_weth = self.v2_pair.add_liquidity(AGENT, usdc_raw, weth_raw, mask)
        self.ledger.moved(AGENT, -used_usdc, -used_weth)

    def remove_liquidity(self, shares_raw: np.ndarray, mask: np.ndarray) -> None:
        got_usdc, got_weth = self.v2_pair.remove_liquidity(AGENT, shares_raw, mask)
        self.ledger.moved(AGENT, got_usdc, got_weth)

    def pool_price(self) -> np.ndarray:
        return pair_price(self.v2_pair)

    def pool_flows(self) -> None:
        """The arbitrageur trades the pair to its band's edge, noise traders swap (``pair_flows``)."""
        reference = self.reference_price()
        pair_flows(self.v2_pair, self.ledger, reference, noise_orders(self.rng, self.n, self.params, reference))

    def agent_position(self) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) the agent's shares redeem for, raw."""
        mine, supply = self.shares()
        usdc, weth = self.reserves()
        safe = np.where(supply > 0, supply, 1.0)
        return np.floor(mine * usdc / safe), np.floor(mine * weth / safe)
