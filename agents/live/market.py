"""The roles' view of a live chain: the agent's account on the pool (``UniswapV3Accounts``), bound to the chain as
the chain worlds bind theirs (``envs.worlds.chain_world.bind_v3_pool``), and the Aave pool component
(``envs.worlds.chain_aave_pool.ChainAavePool``), with the reference price from the on-chain oracle. Nothing scripted
runs here: the chain's other traders are its own."""

from __future__ import annotations

import numpy as np

from agents.live.guards import MarketState
from envs.contracts.market import attach_market
from envs.evm.chain import Chain
from envs.units import BASE_UNIT, TICK_SPACING
from envs.worlds.chain_aave_pool import ChainAavePool
from envs.worlds.chain_world import bind_v3_pool
from envs.worlds.lending import AGENT, BORROWER, LendingMarket, LendingParams
from envs.worlds.v3_accounts import UniswapV3Accounts
from envs.worlds.v3_pool import ChainUniswapV3Pool, Wallet


class LiveUniswapV3Market(UniswapV3Accounts):
    """One world: the agent's account on ``chain`` (its one wallet slot), the USDC/WETH pool of ``fee_pips``."""

    v3_pool: ChainUniswapV3Pool

    @property
    def lp_agents(self) -> int:
        """The one LP agent: the account's owner."""
        return 1

    def __init__(self, chain: Chain, addresses: dict, agent: str, fee_pips: int, dt: float):
        self.chain, self.account, self.n, self.dt = chain, agent, 1, dt
        self.market, self.fee_pips, self.tick_spacing = (
            attach_market(chain, addresses),
            fee_pips,
            TICK_SPACING[fee_pips],
        )
        self.v3_pool, self.ledger = bind_v3_pool(self.market, fee_pips, self._address)
        self.usdc, self.weth, self.pool = self.v3_pool.usdc, self.v3_pool.weth, self.v3_pool.pool
        if (token_id := self.find_position()) is not None:
            self.v3_pool.token_ids[0] = token_id

    @property
    def agent(self) -> str:
        """The account: its owner's, the one wallet slot's."""
        return self.account

    @property
    def token_id(self) -> int | None:
        """The agent's position NFT (None: no position)."""
        return self.v3_pool.token_ids.get(0)

    def _address(self, wallet: Wallet) -> str:
        """The one account behind the one wallet slot (0) and the named wallets the roles use for it."""
        if isinstance(wallet, int):
            if wallet != 0:
                raise ValueError(f"a live market has one wallet slot, the agent's (0), not {wallet}")
            return self.account
        return self._named_address(wallet)

    def _named_address(self, wallet: str) -> str:
        """A named wallet: a live chain has no scripted accounts, and a live LP market no borrower."""
        raise ValueError(f"no account for wallet {wallet!r} here")

    def positions(self) -> list[tuple[int, dict]]:
        """Every USDC/WETH position NFT the agent owns, any fee tier, oldest first (NonfungiblePositionManager
        enumeration), with or without liquidity."""
        npm, pair = self.market.v3.position_manager, {self.usdc.address.lower(), self.weth.address.lower()}
        out = []
        for i in range(npm.call("balanceOf", self.agent)):
            token_id = npm.call("tokenOfOwnerByIndex", self.agent, i)
            pos = self.market.v3.position(token_id)
            if {pos["token0"].lower(), pos["token1"].lower()} == pair:
                out.append((token_id, pos))
        return out

    def find_position(self) -> int | None:
        """The agent's newest position in this pool that still holds liquidity."""
        return next(
            (
                token_id
                for token_id, pos in reversed(self.positions())
                if pos["fee"] == self.fee_pips and pos["liquidity"] > 0
            ),
            None,
        )

    def leftovers(self) -> list[tuple[int, dict]]:
        """Positions a plan left half done: no liquidity, but an NFT (perhaps with tokens still owed)."""
        return [(token_id, pos) for token_id, pos in self.positions() if pos["liquidity"] == 0]

    def collect_and_burn(self, token_id: int, owed: bool) -> None:
        """Collect what ``token_id`` is owed (when it is), then burn the empty NFT."""
        if owed:
            self.market.v3.collect(self.agent, token_id)
        self.market.v3.burn(self.agent, token_id)

    def twap_usd(self, window_s: int) -> float | None:
        """The pool's time-weighted price over the last ``window_s`` seconds (``ChainUniswapV3Pool.twap_usd``)."""
        return self.v3_pool.twap_usd(window_s, self.chain.timestamp())

    def reference_price(self) -> np.ndarray:
        """ETH/USD from the Aave oracle (a Chainlink-style feed, 8 decimals)."""
        return np.array([self.market.aave.price(self.weth) / BASE_UNIT])


class LiveAaveMarket(LiveUniswapV3Market):
    """The borrower's view of a live chain: its Aave account through the real Pool and oracle (the chain side of
    the Aave pool component, as the chain worlds hold it, under the same lending side), and the USDC/WETH pool it
    swaps through. Nothing here funds an account: the live accounts hold what their owners gave them, and the
    chain's other borrowers are its own (no scripted ones, no crowd)."""

    def __init__(self, chain: Chain, addresses: dict, agent: str, fee_pips: int, dt: float):
        super().__init__(chain, addresses, agent, fee_pips, dt)
        pool = ChainAavePool(self.market.aave, self.market.tokens, agent, self._named_address)
        self._lending = LendingMarket(self, pool, LendingParams(borrowers=0), crowd=False)

    @property
    def lending(self) -> LendingMarket:
        """The account's lending side over the real Pool."""
        return self._lending

    def _named_address(self, wallet: str) -> str:
        """The borrower's wallet (the lending side's LP-agent name too) is the one account; a live chain has no
        scripted ones."""
        if wallet not in (AGENT, BORROWER):
            raise ValueError(f"wallet {wallet!r} is a scripted account's: a live chain holds only the agent's account")
        return self.account


def read_market_state(chain: Chain, addresses: dict, account: str, fee_pips: int, twap_window_s: int) -> MarketState:
    """The live pool's price, its TWAP and the oracle's, and the latest block's time: what the guards compare."""
    market = LiveUniswapV3Market(chain, addresses, account, fee_pips, 0.0)
    return MarketState(
        timestamp=chain.timestamp(),
        pool_usd=float(market.pool_price()[0]),
        reference_usd=float(market.reference_price()[0]),
        twap_usd=market.twap_usd(twap_window_s) if twap_window_s else None,
        fee_pips=fee_pips,
    )
