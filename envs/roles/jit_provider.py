"""The just-in-time LP: before each large uninformed swap of the block it mints a narrow range around the price
and burns it right after, keeping its liquidity's share of the swap's fee (``V3WorldParams.jit_usd``,
``jit_min_swap_usd``, ``jit_half_width``). Its action chooses the share of its capital it mints with this
block, on every such swap; its reward is the block's PnL at the block's reference price: the fees, less what
the swap's move through its range and the off-pool rebalancing of its inventory cost it, less the gas of its
round trips (each a measured ``v3_mint`` and the close, at the base gas price plus its priority fee; the world
counts them: ``UniswapV3Market.jit_round_trips``). The world runs the mints and burns with the JIT LP's wallet
(the last slot)."""

from __future__ import annotations

import numpy as np

from envs.roles.role import Receipt
from envs.roles.scripted_share import ScriptedShare
from envs.worlds.market import UniswapV3Market
from envs.worlds.mempool import PENDING_FEATURES, pending_features
from envs.worlds.sim import V3WorldParams
from envs.worlds.v3_accounts import REBALANCE_CLOSE

OBSERVATION_FEATURES = (
    ("pool_vs_reference", "100 * log(pool price / reference price)", "%"),
    ("last_fees", "the fees it earned over the last block's large uninformed swaps, in USD / 100", "100 USD"),
    ("last_inventory_loss", "last block's fees less its PnL: what the swaps' moves through its range cost", "100 USD"),
    ("wallet_vs_capital", "its wallet at the reference price / its starting capital (jit_usd)", "1"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
) + PENDING_FEATURES


def check_jit_world(params: V3WorldParams) -> None:
    """Refuse a world without the JIT LP's capital: the role sets the share of it the world mints with."""
    if params.jit_usd <= 0:
        raise ValueError(
            "a JIT provider agent needs the JIT LP's capital in the world: "
            f"set world['jit_usd'] > 0 (env.jit_usd, now {params.jit_usd})"
        )


class JITProvider(ScriptedShare):
    """Its shares are of its capital, minted with before each large swap."""

    FEATURES = OBSERVATION_FEATURES
    ACTION_MEANING = "mints with"
    GAS_ACTIONS = ("v3_mint",) + REBALANCE_CLOSE  # a round trip: the mint, and the close the burn makes
    SENT = "jit_round_trips"

    def wallet(self, market: UniswapV3Market) -> tuple[np.ndarray, np.ndarray]:
        """(N,) each: the JIT LP's USDC and WETH."""
        return market.slot_wallet(market.params.jit_slot)

    def start(self, market: UniswapV3Market) -> None:
        """An episode starts: no fees or PnL yet, the wallet as funded (the world observes it before a block)."""
        self.profit, self.fees = np.zeros(market.n), np.zeros(market.n)
        self.held, self.block_reference = self.wallet(market), market.reference_price()

    def read(self, market: UniswapV3Market) -> None:
        """After the block: its PnL, the change in its wallet marked at the reference price the block's flow
        traded at (the one ``act`` saw), and its fees."""
        usdc, weth = self.wallet(market)
        self.profit = (usdc - self.held[0]) + (weth - self.held[1]) * self.block_reference
        self.fees = np.asarray(market.jit_fees_usd, dtype=float).copy()
        self.held = usdc, weth

    def wallet_usd(self, market: UniswapV3Market) -> np.ndarray:
        """(N,) its wallet at the current reference price."""
        return self.held[0] + self.held[1] * market.reference_price()

    def observation(self, market: UniswapV3Market) -> np.ndarray:
        own = np.stack(
            [
                100 * np.log(market.pool_price() / market.reference_price()),
                self.fees / 100,
                (self.fees - self.profit) / 100,
                self.wallet_usd(market) / market.params.jit_usd,
                self.volatility.annualized(market.dt),
            ],
            axis=1,
        )
        return np.concatenate([own, pending_features(market.pending, market.n)], axis=1).astype(np.float32)

    def act(self, market: UniswapV3Market, action) -> Receipt:
        """Set the share of its capital the world's JIT LP mints with around this block's large swaps (they
        come with the flow, after the agents); remember the reference price they trade at."""
        share = self.decode(action, market.n)
        market.jit_share = share
        self.block_reference = market.reference_price()
        return self.receipt(share)

    def score(self, market: UniswapV3Market, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward: the block's PnL at its reference price (read by ``observe``), the fees within it, less its
        round trips' gas."""
        return self.profit - receipt.gas_usd, {
            "profit_usd": self.profit,
            "fees_usd": self.fees,
            "gas_usd": receipt.gas_usd,
            "wallet_usd": self.wallet_usd(market),
        } | receipt.info
