"""The world an env runs on, on any backend: N worlds on the batched simulator (numpy, torch), fresh, started from
a chain's pool (``init_from``) or replaying recorded events; or one world on a chain (evm, anvil), built, forked,
attached to a fork's own market or re-sending its blocks. ``make_market`` makes a Uniswap V3 world, ``make_v2_market``
a Uniswap V2 one, each with the lending sides it is given beside its pool."""

from __future__ import annotations

from typing import Sequence

from envs.arrays import BACKENDS as ARRAY_BACKENDS
from envs.drivers.base import PriceDriver
from envs.worlds.lending import LendingParams
from envs.worlds.market import UniswapV3Market
from envs.worlds.sim import UniswapV3World, V3WorldParams
from envs.worlds.v2_market import UniswapV2Market, V2WorldParams

BACKENDS = ("numpy", "torch", "evm", "anvil")


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
