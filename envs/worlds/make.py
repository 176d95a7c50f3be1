"""The world an env runs on, on any backend: N worlds on the batched simulator (numpy, torch), fresh, started from
a chain's pool (``init_from``) or replaying recorded events; or one world on a chain (evm, anvil), built, forked,
attached to a fork's own market or re-sending its blocks. ``make_market`` makes a Uniswap V3 world, ``make_v2_market``
a Uniswap V2 one, each with the lending sides it is given beside its pool; an env names what its world is made of in
a ``WorldRecipe`` (its spec's ``world``) and makes it with ``make_world``."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence, overload

from envs.arrays import BACKENDS as ARRAY_BACKENDS
from envs.drivers.base import PriceDriver
from envs.worlds.lending import NO_LENDING, LendingParams
from envs.worlds.lending_protocols import PROTOCOLS
from envs.worlds.market import UniswapV3Market
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.v2_market import UniswapV2Market, V2WorldParams
from envs.worlds.world import World

BACKENDS = ("numpy", "torch", "evm", "anvil")
UNISWAP_V3, UNISWAP_V2 = "uniswap_v3", "uniswap_v2"  # the pools a world is built around
#: whether a world holds a lending side: never, where its config names a protocol (``protocol: none``: none), always
NO_LENDING_SIDE, OPTIONAL_LENDING, WITH_LENDING = "none", "optional", "required"


@dataclass(frozen=True)
class WorldRecipe:
    """What an env's world is made of (``EnvSpec.world``): the pool it is built around, and whether it holds a
    lending side beside it (``lending``). The env makes its world from it (``make_world``), the config check reads
    which ``env.lending`` it takes (``lending_side``), and an export records what its policy was trained beside
    (``protocols``)."""

    pool: str  # UNISWAP_V3 or UNISWAP_V2
    lending: str = NO_LENDING_SIDE  # NO_LENDING_SIDE, OPTIONAL_LENDING or WITH_LENDING
    #: the lending side's settings where the env's ``lending`` argument says nothing of them (a Morpho Blue env's
    #: protocol, a liquidator's borrowers near the edge); kept read-only, and out of the recipe's hash
    lending_defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    #: the lending protocols its world may hold (empty: any in the table), and where to go for another
    lending_protocols: tuple[str, ...] = ()
    other_protocols: str = ""

    def __post_init__(self):
        object.__setattr__(self, "lending_defaults", MappingProxyType(dict(self.lending_defaults)))
        if self.pool not in (UNISWAP_V3, UNISWAP_V2):
            raise ValueError(f"a world is built around {UNISWAP_V3} or {UNISWAP_V2}, not {self.pool!r}")
        if self.lending not in (NO_LENDING_SIDE, OPTIONAL_LENDING, WITH_LENDING):
            raise ValueError(f"lending={self.lending!r}: {NO_LENDING_SIDE}, {OPTIONAL_LENDING} or {WITH_LENDING}")

    def lending_side(self, overrides: dict | None) -> LendingParams | None:
        """The lending side an env's ``lending`` argument (``env.lending``) gives this world, None for none; an
        argument the world cannot take fails, naming the fix."""
        return LendingParams.optional(self.lending_overrides(overrides))  # an unknown key or combination fails here

    def lending_overrides(self, overrides: dict | None) -> dict | None:
        """An env's ``lending`` argument checked against this world and laid over its defaults (None: the world
        holds no lending side); a protocol the world cannot take fails, naming the fix."""
        if self.lending == NO_LENDING_SIDE:
            if overrides is not None:
                raise ValueError(f"env.lending={overrides}: this env's world holds no lending market; leave it out")
            return None
        protocols = self.lending_protocols or tuple(PROTOCOLS)
        protocol = (overrides or {}).get("protocol")
        if self.lending == WITH_LENDING and protocol == NO_LENDING:
            raise ValueError(
                f"env.lending.protocol is none: set env.lending.protocol={' or '.join(protocols)} (this env acts on a "
                "lending market)"
            )
        if self.lending_protocols and protocol not in (None, NO_LENDING, *protocols):
            raise ValueError(
                f"env.lending.protocol={protocol}: this env's world holds a lending market of {' or '.join(protocols)}"
                + (f"; {self.other_protocols}" if self.other_protocols else "")
            )
        if overrides is None and self.lending == OPTIONAL_LENDING:
            return None
        return dict(self.lending_defaults) | (overrides or {})

    def protocols(self, env_config: dict) -> dict[str, Any]:
        """What the world of an env config (its ``env.*`` keys) holds: its pool, the pools beside it, its lending
        side's protocol (None for none); what an export records its policy was trained beside."""
        side = self.lending_side(env_config.get("lending"))
        return {
            "pool": self.pool,
            "beside": [
                pool
                for pool, key in ((UNISWAP_V2, "v2_pair_usd"), (UNISWAP_V3, "v3_pool_beside_usd"))
                if float(env_config.get(key) or 0) > 0
            ],
            "lending": None if side is None else side.protocol,
        }


#: the worlds most envs run in: the V3 pool alone (the LP's, the arbitrageur's), and beside a lending market
V3_POOL = WorldRecipe(UNISWAP_V3)
V3_POOL_WITH_LENDING = WorldRecipe(UNISWAP_V3, WITH_LENDING)


@overload
def make_world(
    recipe: WorldRecipe,
    backend: str,
    n: int,
    driver: PriceDriver,
    params: V3WorldParams,
    lending: dict | None = None,
    **options: Any,
) -> UniswapV3Market: ...


@overload
def make_world(
    recipe: WorldRecipe,
    backend: str,
    n: int,
    driver: PriceDriver,
    params: V2WorldParams,
    lending: dict | None = None,
    **options: Any,
) -> UniswapV2Market: ...


def make_world(
    recipe: WorldRecipe,
    backend: str,
    n: int,
    driver: PriceDriver,
    params: V3WorldParams | V2WorldParams,
    lending: dict | None = None,
    **options: Any,
) -> World:
    """The world ``recipe`` names on ``backend`` (its pool's parameters ``params``), with the lending side
    ``lending`` (an env's argument) gives it: ``make_market`` or ``make_v2_market`` with ``options`` (device, fork
    and replay options)."""
    side = recipe.lending_side(lending)
    if recipe.pool == UNISWAP_V2:
        if not isinstance(params, V2WorldParams):
            raise TypeError(f"a {UNISWAP_V2} world takes V2WorldParams, not {type(params).__name__}")
        return make_v2_market(backend, n, driver, params, lending=side, **options)
    if not isinstance(params, V3WorldParams):
        raise TypeError(f"a {UNISWAP_V3} world takes V3WorldParams, not {type(params).__name__}")
    return make_market(backend, n, driver, params, lending=side, **options)


def make_market(
    backend: str,
    n: int,
    driver: PriceDriver,
    params: V3WorldParams,
    device: str | None = None,
    fork_url: str | None = None,
    lending: LendingParams | Sequence[LendingParams] | None = None,
    fork_block: int | None = None,
    addresses: str | None = None,
    init_from: str | None = None,
    init_addresses: str = "ethereum",
    replay_blocks: int = 0,
    priority_fee_gwei: float | None = None,
    horizon: int | None = None,
) -> UniswapV3Market:
    """The market on a backend: the batched simulator (numpy, torch) or a chain (evm, anvil; one world).
    With ``lending`` (one ``LendingParams`` or several), lending markets with scripted borrowers run beside the
    pool. On a chain,
    ``fork_url`` (at ``fork_block``, its head when None) forks a node; with ``addresses`` (an address
    book's name or path) the world attaches to the market the fork already holds instead of building one.
    On the simulator, ``init_from`` (``URL@block``) starts every world from the pool of book
    ``init_addresses`` as that chain held it at that block (the chain backends ignore it). With
    ``replay_blocks`` (a chain forked from ``fork_url``), every step first re-sends the forked
    chain's own transactions of its next ``replay_blocks`` blocks; with ``priority_fee_gwei`` (the agent's
    tip), those of the first block that paid more go before the agent's transactions. A replay with
    ``params.replay_window`` fits episodes of ``horizon`` steps in it."""
    if params.flow == "replay" and (backend not in ARRAY_BACKENDS or lending is not None or init_from):
        raise ValueError(
            "env.flow=replay replays recorded events through the simulated pool of the LP envs "
            "(backend=numpy or torch, no backend.init_from); on a chain, fork it and re-send its own "
            "blocks with backend.replay_blocks"
        )
    if backend in ARRAY_BACKENDS:
        from envs.arrays import array_backend

        if params.flow == "replay":
            from envs.worlds.replay_world import ReplayWorld

            return ReplayWorld(n, driver, params, array_backend(backend, device), horizon)
        if init_from is not None:
            if lending is not None:
                raise ValueError(
                    "backend.init_from starts the Uniswap V3 LP env's pool so far; leave it out for the lending envs"
                )
            from envs.worlds.forked_sim import ForkedStartWorld, read_origin

            return ForkedStartWorld(
                n,
                driver,
                params,
                array_backend(backend, device),
                read_origin(init_from, str(init_addresses), params.fee_pips),
            )
        return UniswapV3World(n, driver, params, array_backend(backend, device), lending)
    if backend in ("evm", "anvil"):
        if n != 1:
            raise ValueError(f"the {backend} backend runs one world per env; use numpy or torch for batches")
        from envs.contracts.fork import chain_factory, load_attach_book
        from envs.worlds.chain_world import ChainUniswapV3World

        book = load_attach_book(addresses, fork_url)
        make_chain = chain_factory(backend, fork_url, fork_block)
        if priority_fee_gwei is not None and not replay_blocks:
            raise ValueError(
                "backend.priority_fee_gwei orders the agent among replayed transactions: it needs "
                "backend.replay_blocks > 0"
            )
        if replay_blocks and fork_url is None:  # a lending side refuses them itself (ChainLendingSides)
            raise ValueError(
                f"backend.replay_blocks={replay_blocks} replays a forked chain's blocks: it needs backend.fork_url"
            )
        tip = None if priority_fee_gwei is None else round(priority_fee_gwei * 1e9)
        # replay_blocks without a fork_url was refused above; the second test only tells the checker so
        replay = (fork_url, int(replay_blocks), tip) if replay_blocks and fork_url is not None else None
        return ChainUniswapV3World(make_chain, driver, params, book, replay, lending)
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")


def make_v2_market(
    backend: str,
    n: int,
    driver: PriceDriver,
    params: V2WorldParams,
    device: str | None = None,
    fork_url: str | None = None,
    fork_block: int | None = None,
    addresses: str | None = None,
    lending: LendingParams | Sequence[LendingParams] | None = None,
) -> UniswapV2Market:
    """The pair on the simulator (numpy, torch) or on a chain (evm, anvil; one world): fresh, or a fork of
    ``fork_url`` at ``fork_block``; with ``addresses`` (an address book) the fork's own pair. With ``lending``, a
    lending market with scripted borrowers and a scripted liquidator runs beside the pair and trades through it."""
    if backend in ARRAY_BACKENDS:
        from envs.arrays import array_backend
        from envs.worlds.sim_v2 import UniswapV2World

        return UniswapV2World(n, driver, params, array_backend(backend, device), lending)
    if backend in ("evm", "anvil"):
        if n != 1:
            raise ValueError(f"the {backend} backend runs one world per env; use numpy or torch for batches")
        from envs.contracts.fork import chain_factory, load_attach_book
        from envs.worlds.chain_v2 import ChainUniswapV2World

        book = load_attach_book(addresses, fork_url)
        return ChainUniswapV2World(chain_factory(backend, fork_url, fork_block), driver, params, book, lending)
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
