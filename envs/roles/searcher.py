"""The sandwich searcher: around each uninformed swap of the block it front-runs in the swap's direction,
lets the victim trade at the worse price, and back-runs (``envs.worlds.sandwich``). Its action chooses the
share of the largest front-run the victim's slippage limit allows that it takes this block, on every
uninformed swap of it; its reward is its take, marked at the reference price after the pool's fees, less the gas
of the legs the block sent (each a measured ``v3_swap``, at the base gas price plus its priority fee; the world
sandwiches only where the take pays before gas, and counts the legs: ``UniswapV3Market.sandwich_legs``). The world runs the legs with the searcher's wallet
(``V3WorldParams.sandwich_usd``, ``searcher_slot``)."""

from __future__ import annotations

import numpy as np

from envs.roles.role import Receipt
from envs.roles.scripted_share import ScriptedShare
from envs.worlds.market import UniswapV3Market
from envs.worlds.mempool import PENDING_FEATURES, pending_features
from envs.worlds.sim import V3WorldParams

OBSERVATION_FEATURES = (
    ("pool_vs_reference", "100 * log(pool price / reference price)", "%"),
    ("last_take", "its profit over the last block's uninformed swaps, in USD / 100", "100 USD"),
    ("wallet_vs_capital", "its wallet at the reference price / its starting capital (sandwich_usd)", "1"),
    ("slippage", "the uninformed swaps' slippage limit (slippage_bps / 100)", "%"),
    ("volatility", "EWMA realized volatility of the reference price, annualized", "1"),
) + PENDING_FEATURES


def check_sandwich_world(params: V3WorldParams) -> None:
    """Refuse a world without the searcher's capital or the victims' slippage limits: the role sizes within both."""
    if params.sandwich_usd <= 0 or params.slippage_bps is None:
        raise ValueError(
            "a searcher agent needs a sandwich searcher's capital and the flow's slippage limits in the world: "
            f"set world['sandwich_usd'] > 0 (env.sandwich_usd, now {params.sandwich_usd}) and "
            f"world['slippage_bps'] (env.slippage_bps, now {params.slippage_bps})"
        )


class SandwichSearcher(ScriptedShare):
    """Its shares are of the largest front-run the victim's minimum output allows."""

    FEATURES = OBSERVATION_FEATURES
    ACTION_MEANING = "takes"
    GAS_ACTIONS = ("v3_swap",)  # a leg: one exact-input swap through the SwapRouter
    SENT = "sandwich_legs"

    def wallet_usd(self, market: UniswapV3Market) -> np.ndarray:
        """(N,) the searcher's wallet at the reference price."""
        usdc, weth = market.slot_wallet(market.params.searcher_slot)
        return usdc + weth * market.reference_price()

    def start(self, market: UniswapV3Market) -> None:
        """An episode starts: no take yet, the wallet as funded."""
        self.take = np.zeros(market.n)
        self.wallet = self.wallet_usd(market)

    def read(self, market: UniswapV3Market) -> None:
        """After the block: the take over its uninformed swaps, and the wallet holding it."""
        self.take = np.asarray(market.sandwich_profit_usd, dtype=float).copy()
        self.wallet = self.wallet_usd(market)

    def observation(self, market: UniswapV3Market) -> np.ndarray:
        p = market.params
        own = np.stack(
            [
                100 * np.log(market.pool_price() / market.reference_price()),
                self.take / 100,
                self.wallet / p.sandwich_usd,
                np.full(market.n, (p.slippage_bps or 0.0) / 100),
                self.volatility.annualized(market.dt),
            ],
            axis=1,
        )
        return np.concatenate([own, pending_features(market.pending, market.n)], axis=1).astype(np.float32)

    def act(self, market: UniswapV3Market, action) -> Receipt:
        """Set the share the world's searcher takes of each uninformed swap's bound this block; its legs
        run with the flow, after the agents' transactions."""
        share = self.decode(action, market.n)
        market.sandwich_share = share
        return self.receipt(share)

    def score(self, market: UniswapV3Market, receipt: Receipt) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Reward: the block's take (read by ``observe``), its pool fees paid inside the legs, less its legs' gas."""
        return self.take - receipt.gas_usd, {
            "profit_usd": self.take,
            "gas_usd": receipt.gas_usd,
            "wallet_usd": self.wallet,
        } | receipt.info
