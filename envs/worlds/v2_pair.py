"""The Uniswap V2 USDC/WETH pair as a component of a world: one interface over N worlds, with the simulator's side
(``envs.protocols.uniswap_v2`` over the batch axis) and a chain's (the real UniswapV2Pair through Router02). A
world holds one and keeps its wallets; wallets are named (``"agent"``, ``"arbitrageur"``, ``"noise"``), and only
their pair shares are the pair's to count. USDC is token0; amounts are raw units, (N,) float64."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, TypeVar

import numpy as np

from envs.arrays import ArrayBackend
from envs.contracts.uniswap_v2 import UniswapV2
from envs.evm.chain import DEADLINE, TransactionReverted
from envs.protocols.uniswap_v2 import pair as v2
from envs.protocols.uniswap_v2.pair import V2PairState
from envs.units import held_amount

T = TypeVar("T")


class UniswapV2Pair(ABC):
    """A USDC/WETH pair in N worlds: the reads and actions every backend gives the same way."""

    n: int

    @abstractmethod
    def reserves(self) -> tuple[np.ndarray, np.ndarray]:
        """(USDC, WETH) in the pair, raw."""

    @abstractmethod
    def shares(self, wallet: str) -> tuple[np.ndarray, np.ndarray]:
        """(``wallet``'s LP shares, the pair's total supply), raw."""

    @abstractmethod
    def swap(
        self, wallet: str, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap of ``raw`` from ``wallet``; returns (paid, got), raw."""

    @abstractmethod
    def add_liquidity(
        self, wallet: str, usdc_raw: np.ndarray, weth_raw: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Deposit up to these amounts at the pair's ratio (Router02.addLiquidity); returns (USDC, WETH) used."""

    @abstractmethod
    def remove_liquidity(self, wallet: str, shares_raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Burn ``shares_raw`` of ``wallet``'s shares (no more than it holds); returns the (USDC, WETH) they redeem."""


class SimUniswapV2Pair(UniswapV2Pair):
    """N pairs on an array backend, seeded at reset as ``build_market`` seeds the local mainnet's pair."""

    def __init__(self, n: int, backend: ArrayBackend):
        self.n, self.b = n, backend

    def reset(self, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        """A pair holding these reserves, its first mint's shares (the locked ones included) held by nobody here."""
        b = self.b
        self.state = V2PairState(
            b.asarray(usdc_raw), b.asarray(weth_raw), b.asarray(np.floor(np.sqrt(usdc_raw * weth_raw)))
        )
        self._shares: dict[str, np.ndarray] = {}

    def _mask(self, mask):
        return self.b.asarray(mask, dtype=self.b.xp.bool)

    def reserves(self):
        return self.b.to_numpy(self.state.reserve0).copy(), self.b.to_numpy(self.state.reserve1).copy()

    def shares(self, wallet):
        return self._shares.get(wallet, np.zeros(self.n)).copy(), self.b.to_numpy(self.state.total_supply).copy()

    def swap(self, wallet, sell_usdc, raw, mask):
        b = self.b
        got = b.to_numpy(v2.swap(self.state, b.asarray(sell_usdc, dtype=b.xp.bool), b.asarray(raw), self._mask(mask)))
        return np.where(got > 0, raw, 0.0), got  # a refused swap pays nothing

    def add_liquidity(self, wallet, usdc_raw, weth_raw, mask):
        b = self.b
        minted, used0, used1 = (
            b.to_numpy(x) for x in v2.mint(self.state, b.asarray(usdc_raw), b.asarray(weth_raw), self._mask(mask))
        )
        self._shares[wallet] = self.shares(wallet)[0] + minted
        return used0, used1

    def remove_liquidity(self, wallet, shares_raw, mask):
        b = self.b
        shares_raw = np.clip(shares_raw, 0.0, self.shares(wallet)[0])  # no more than the wallet holds
        got0, got1 = (b.to_numpy(x) for x in v2.burn(self.state, b.asarray(shares_raw), self._mask(mask)))
        self._shares[wallet] = self.shares(wallet)[0] - np.where(mask & (got0 > 0), shares_raw, 0.0)
        return got0, got1


#: the reverts the batched pair refuses the same way (``envs.protocols.uniswap_v2.pair``): the world trades nothing
REFUSED = (
    "UniswapV2Library: INSUFFICIENT_AMOUNT",  # Router02.addLiquidity quoting a deposit of none of a token
    "INSUFFICIENT_INPUT_AMOUNT",
    "INSUFFICIENT_OUTPUT_AMOUNT",
    "INSUFFICIENT_LIQUIDITY_MINTED",
    "INSUFFICIENT_LIQUIDITY_BURNED",
)


def _refused(act: Callable[[], T]) -> T | None:
    """``act``'s result, or None where the pair or its library refuses it (``REFUSED``): nothing moved."""
    try:
        return act()
    except TransactionReverted as revert:
        if not any(reason in revert.reason for reason in REFUSED):
            raise
        return None


class ChainUniswapV2Pair(UniswapV2Pair):
    """One world's pair on a chain, traded through Router02 from the address ``address(wallet)`` names."""

    n = 1

    def __init__(self, v2_contracts: UniswapV2, usdc, weth, address: Callable[[str], str]):
        self.v2, self.usdc, self.weth, self.address = v2_contracts, usdc, weth, address
        self.router, self.pair = v2_contracts.router, v2_contracts.pair(usdc, weth)

    def reserves(self):
        r0, r1, _ = self.pair.call("getReserves")  # USDC sorts below WETH: token0
        return np.array([float(r0)]), np.array([float(r1)])

    def shares(self, wallet):
        held = self.pair.call("balanceOf", self.address(wallet))
        return np.array([float(held)]), np.array([float(self.pair.call("totalSupply"))])

    def swap(self, wallet, sell_usdc, raw, mask):
        if not mask[0] or raw[0] <= 0:
            return np.zeros(1), np.zeros(1)
        who = self.address(wallet)
        token_in, token_out = (self.usdc, self.weth) if sell_usdc[0] else (self.weth, self.usdc)
        amount = held_amount(raw[0], token_in.balance_of(who))
        got = _refused(lambda: self.v2.swap_exact_in(who, token_in, token_out, amount))
        if got is None:
            return np.zeros(1), np.zeros(1)
        return np.array([float(amount)]), np.array([float(got)])

    def _moved(self, who: str, act: Callable[[], object]) -> tuple[np.ndarray, np.ndarray]:
        """What ``act`` took from (+) or gave to (-) ``who``'s USDC and WETH, raw (nothing where it is refused)."""
        before = self.usdc.balance_of(who), self.weth.balance_of(who)
        _refused(act)
        return np.array([float(before[0] - self.usdc.balance_of(who))]), np.array(
            [float(before[1] - self.weth.balance_of(who))]
        )

    def add_liquidity(self, wallet, usdc_raw, weth_raw, mask):
        if not mask[0]:
            return np.zeros(1), np.zeros(1)
        who = self.address(wallet)
        usdc = held_amount(usdc_raw[0], self.usdc.balance_of(who))
        weth = held_amount(weth_raw[0], self.weth.balance_of(who))
        return self._moved(
            who,
            lambda: self.router.transact(
                "addLiquidity",
                self.usdc.address,
                self.weth.address,
                usdc,
                weth,
                0,
                0,
                who,
                DEADLINE,
                sender=who,
            ),
        )

    def remove_liquidity(self, wallet, shares_raw, mask):
        if not mask[0] or shares_raw[0] <= 0:
            return np.zeros(1), np.zeros(1)
        who = self.address(wallet)
        shares = held_amount(shares_raw[0], self.pair.call("balanceOf", who))
        paid0, paid1 = self._moved(
            who,
            lambda: self.router.transact(
                "removeLiquidity",
                self.usdc.address,
                self.weth.address,
                shares,
                0,
                0,
                who,
                DEADLINE,
                sender=who,
            ),
        )
        return -paid0, -paid1
