"""What every world is, whatever the protocols it holds and the backend it runs on: N worlds (one on a chain) on a
reference price path, a block clock, the accounts' ledger, and the protocol components it holds: its pool and those
beside it (a second pool, lending sides). The order of a world's own step is written once here; a world around a pool
(``envs.worlds.market``, ``envs.worlds.v2_market``) gives its pool's scripted flows, and a backend gives the start of
an episode (where the reference path starts)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from envs.drivers.base import PriceDriver
from envs.worlds.ledger import Ledger
from envs.worlds.reference_path import ReferencePath

if TYPE_CHECKING:
    from envs.worlds.lending import LendingMarket
    from envs.worlds.v3_pool import Wallet


class Component(Protocol):
    """A protocol component a world holds beside its pool (a lending side, a second pool): it starts with the
    world, follows the reference as it moves, and acts after the pool's scripted flows."""

    #: a lending side (the lending roles act on the first), else a pool beside the world's own
    lends: bool

    def reset(self, rng: np.random.Generator) -> None: ...

    def follow(self) -> None: ...

    def step(self) -> None: ...


class PoolBeside(Component, Protocol):
    """A pool a world holds beside its own (``envs.worlds.v2_pair_side``, ``envs.worlds.v3_pool_side``): a component
    that is also a venue, which a lending side that routes compares and trades on."""

    SWAP_GAS: str  # the gas table's name of a swap through it (``envs.assets.gas``)

    def price(self) -> np.ndarray: ...

    def quote(self, wallet: Wallet, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """What ``trade`` would get, raw, with nothing moved."""
        ...

    def trade(
        self, group: str, wallet: Wallet, sell_usdc: np.ndarray, raw: np.ndarray, *, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap from ``wallet``, booked to it; (paid, got), raw."""
        ...


class World(ABC):
    """N worlds stepped together: the reference price path (``path``, a ``driver``'s), each world's clock
    (``clock``, seconds, ``dt`` a step), the accounts' wallets (``ledger``), the pool's scripted flows and the
    components beside the pool (``components``: a V2 pair, lending sides; ``lending``: the first lending side), which
    start with the world, follow the reference and act after the pool's flows."""

    n: int
    dt: float  # seconds per step
    driver: PriceDriver
    path: ReferencePath  # the reference price, the driver's path (scaled where it starts at a pool's own price)
    ledger: Ledger
    rng: np.random.Generator
    clock: np.ndarray  # (N,) each world's time, seconds (the driver's timestamps where it has them)
    #: the protocol components the world holds beside its pool, in the order they start, follow and act: the pools
    #: beside its own (``envs.worlds.v2_pair_side``), then its lending sides, one per lending protocol
    #: (``envs.worlds.lending``)
    components: tuple[Component, ...] = ()

    @property
    def lending(self) -> LendingMarket | None:
        """The lending side the lending roles act on: the first the world holds."""
        return next((cast("LendingMarket", c) for c in self.components if c.lends), None)

    @property
    def pools_beside(self) -> tuple[PoolBeside, ...]:
        """The pools the world holds beside its own: the components that do not lend."""
        return tuple(cast(PoolBeside, c) for c in self.components if not c.lends)

    def pools_beside_trade(self) -> None:
        """The block's scripted trades on each pool beside the world's own (``step`` runs them among the components;
        an env whose block writes its own order calls this after its pool's flows)."""
        for pool in self.pools_beside:
            pool.step()

    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        """An episode starts (``start``: the price paths, the pool, the wallets, funded with ``agent_usd`` where the
        world has an LP agent); then each component it holds starts on that market."""
        self.start(rng, agent_usd)
        for component in self.components:
            component.reset(rng)

    @abstractmethod
    def start(self, rng: np.random.Generator, agent_usd: float | None) -> None:
        """The backend's start of an episode: the price paths, the pool's liquidity, the wallets, the clock."""

    def move_reference(self) -> None:
        """The reference price's next step (``move_path``) and the clock's; each component follows them (a lending
        side's clock and oracle)."""
        self.move_path()
        self.clock = self.clock + self.dt
        for component in self.components:
            component.follow()

    def move_path(self) -> None:
        """The reference path's next step."""
        self.path.step()

    def reference_price(self) -> np.ndarray:
        """(N,) USD per WETH off the pool: the price the arbitrage and the oracle follow."""
        return self.path.now.copy()

    def step(self) -> None:
        """The world's own block: the reference moves, the pool's scripted flows trade it (``pool_flows``), then each
        component acts (a pool beside it takes its own flows; a lending side's scripted liquidator and borrowers)."""
        self.move_reference()
        self.pool_flows()
        for component in self.components:
            component.step()

    @abstractmethod
    def pool_flows(self) -> None:
        """The pool's scripted flows of a block, after the reference moved: the arbitrage, the uninformed swaps and
        whatever else trades the pool on its own."""
