"""A world's lending side, the one interface the lending roles use whatever the backend and the lending
protocol: a lending pool component (``lending_pool.LendingPool``: Aave V3's reserves or a Morpho Blue market)
beside the world's USDC/WETH pool (a Uniswap V3 pool or a V2 pair: ``Venue``), whose oracle follows the reference
price, scripted borrowers who
keep a target LTV, and a scripted liquidator who sells what it seizes into the pool. A world holds it (its
``lending``) instead of inheriting it; the roles reach it through ``lending_of(world)``.

Lending account 0 is the borrower agent, with a wallet of its own (apart from the LP's); accounts
1..K are the scripted borrowers, who supply WETH and borrow USDC. Account K + 1 is Aave's crowd: the rest
of the reserves' borrowers, who borrow against WBTC collateral until each calibrated reserve charges
the rate they are willing to pay, a fitted mean-reverting path (``envs.flows.borrow_demand``).
Amounts are raw token units, (N,) float64; ``Position`` values are in USD with 8 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from envs.assets import AaveReserveParams, aave_reserve_params
from envs.assets.gas import gas_units
from envs.contracts.morpho_blue import DEFAULT_LLTV
from envs.flows.borrow_demand import DEFAULT_CALIBRATION, NO_CALIBRATION, LendingCalibration, load_calibration
from envs.units import BASE_UNIT, USDC_UNIT, WAD, WBTC_UNIT, WETH_UNIT
from envs.worlds.block_accounting import BlockAccounts
from envs.worlds.ledger import Ledger
from envs.worlds.lending_pool import (
    AGENT,
    AGENT_ACCOUNT,
    AGENT_LIQUIDATOR,
    BORROWER,
    COMPETITOR,
    WALLETS,
    LendingPool,
    Position,
    check_wallet,
)
from envs.worlds.market import WBTC_PRICE_USD
from envs.worlds.v3_pool import Wallet

if TYPE_CHECKING:
    from envs.worlds.v3_accounts import UniswapV3Accounts
    from envs.worlds.world import PoolBeside, World

__all__ = [
    "AGENT",
    "AGENT_ACCOUNT",
    "AGENT_LIQUIDATOR",
    "BORROWER",
    "COMPETITOR",
    "WALLETS",
    "LendingMarket",
    "LendingParams",
    "Position",
    "check_wallet",
    "lending_of",
]

#: the lending pools a world can hold (``LendingParams.protocol``; each a component with a simulator and a chain side,
#: ``envs.worlds.lending_protocols``)
AAVE_V3, MORPHO_BLUE = "aave_v3", "morpho_blue"
NO_LENDING = "none"  # an env's ``lending.protocol`` where its world may hold a lending side and holds none
MORPHO_LLTV = DEFAULT_LLTV / WAD  # a Morpho Blue market's liquidation LTV unless told, as a fraction
#: the crowd's WBTC collateral, in multiples of ``supply_usd``: its LTV stays near 25% with both reserves lent out
CROWD_COLLATERAL = 8.0
#: the group of the block's accounts (``envs.worlds.block_accounting``) each wallet's swaps are recorded in
SWAP_GROUP = {
    AGENT: "borrower",  # the lending envs' agent: a levered position
    BORROWER: "borrower",
    AGENT_LIQUIDATOR: "liquidation",  # selling the collateral it seized
    COMPETITOR: "liquidation",
}


class Venue(Protocol):
    """What a lending side needs of the world that holds it, whatever its pool (a V3 pool's accounts, a V2 pair):
    its worlds and step, its wallets, the block's accounts, the reference price, and an exact-input swap through its
    pool from a wallet, booked to it."""

    @property
    def n(self) -> int: ...

    @property
    def dt(self) -> float: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def accounts(self) -> BlockAccounts | None: ...

    @property
    def lp(self) -> Wallet:
        """The (selected) LP agent's wallet."""
        ...

    @property
    def lp_agents(self) -> int: ...

    #: the gas table's name of a swap through its pool (``envs.assets.gas``)
    SWAP_GAS: str

    @property
    def pools_beside(self) -> tuple[PoolBeside, ...]:
        """The pools beside its own, where a side that routes may swap too."""
        ...

    def reference_price(self) -> np.ndarray: ...

    def trade(
        self,
        group: str,
        wallet: Wallet,
        sell_usdc: np.ndarray,
        raw: np.ndarray,
        *,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def quote(self, wallet: Wallet, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """What ``trade`` would get, raw, with nothing moved."""
        ...


@dataclass(frozen=True)
class LendingParams:
    """The scripted borrowers: each supplies a lognormal amount of WETH (median ``borrower_usd``),
    borrows USDC to a target LTV drawn from ``target_ltv``, and borrows back up to it whenever a
    rising price leaves it ``relever_band`` below target. A liquidated-out borrower opens anew.
    ``calibration`` names the fitted rate curves and borrow demand the reserves run (a shipped
    ``envs/assets/lending_<name>.json`` or a path); ``"none"`` keeps the 2025-03-19 rate curves and no
    crowd, so the scripted borrowers alone use the reserves. ``protocol`` is the lending pool the world
    holds (``envs.worlds.lending_protocols.PROTOCOLS``): Aave V3's reserves, or a Morpho Blue market (WETH collateral, USDC loans,
    liquidation LTV ``lltv``) that has no crowd."""

    borrowers: int = 8
    borrower_usd: float = 200_000.0
    target_ltv: tuple[float, float] = (0.70, 0.80)
    relever_band: float = 0.05
    supply_usd: float = 50_000_000.0  # seeded into each reserve (Morpho Blue: its USDC), as the local mainnet does
    calibration: str = DEFAULT_CALIBRATION
    protocol: str = AAVE_V3
    lltv: float = MORPHO_LLTV  # Morpho Blue: the market's liquidation LTV (its governance enables a set of them)
    #: where the world holds pools beside its own (a V2 pair, a V3 pool of another tier): each of the lending side's
    #: swaps (a liquidator's sale of what it seized, a borrower's levering) goes to the one that pays the most for it
    #: then, as a liquidator routing through an aggregator does; False: through the world's own pool
    route: bool = False

    def __post_init__(self):
        low, high = self.target_ltv
        if self.borrowers < 0 or self.borrower_usd <= 0 or self.supply_usd <= 0:
            raise ValueError("borrowers must be >= 0; borrower_usd and supply_usd positive")
        from envs.worlds.lending_protocols import PROTOCOLS  # the components import this module

        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"unknown lending protocol {self.protocol!r} (env.lending.protocol); choose one of {list(PROTOCOLS)}"
            )
        if not isinstance(self.route, bool):
            raise ValueError(
                f"lending.route={self.route!r} must be true or false (route swaps among the world's pools)"
            )
        if not 0 < self.lltv < 1:
            raise ValueError(f"lltv must be within (0, 1), got {self.lltv}")
        if not 0 < low <= high < 1:
            raise ValueError(f"target_ltv must be a range within (0, 1), got {self.target_ltv}")
        if self.protocol == MORPHO_BLUE and high >= self.lltv:
            raise ValueError(
                f"lending.target_ltv={list(self.target_ltv)} reaches the Morpho Blue market's liquidation LTV "
                f"lending.lltv={self.lltv}: its scripted borrowers could not borrow; keep target_ltv below lltv"
            )
        if self.protocol != MORPHO_BLUE and self.lltv != MORPHO_LLTV:
            raise ValueError(
                f"lending.lltv={self.lltv} sets a Morpho Blue market's liquidation LTV; Aave V3's reserves have their "
                f"own: leave lending.lltv out, or set lending.protocol=morpho_blue"
            )
        if self.protocol == MORPHO_BLUE and self.calibrated() is not None:
            raise ValueError(
                f"lending.calibration={self.calibration!r} fits Aave's reserves and its crowd of borrowers; a Morpho "
                f"Blue market has neither: set lending.calibration=none"
            )
        self.calibrated()  # a bad name fails here, naming the choices

    @classmethod
    def of(cls, overrides: dict | None) -> LendingParams:
        """The params with ``overrides`` (an env's ``lending`` argument, ``env.lending``); a key they lack fails,
        naming the keys there are."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(overrides or {}) - set(names))
        if unknown:
            raise ValueError(f"unknown env.lending key(s) {unknown}: the lending market takes {names}")
        return cls(**(overrides or {}))

    @classmethod
    def optional(cls, overrides: dict | None) -> LendingParams | None:
        """The params of a world that may hold a lending market (``of``), or None for none: ``overrides`` None, or
        naming ``protocol: none`` and nothing else (a key beside it fails, naming the fix)."""
        if overrides is None or overrides.get("protocol") != NO_LENDING:
            return None if overrides is None else cls.of(overrides)
        if set(overrides) - {"protocol"}:
            raise ValueError(
                f"env.lending={overrides} sets a lending market, but env.lending.protocol is none: set "
                "env.lending.protocol=aave_v3 or morpho_blue to run one"
            )
        return None

    def calibrated(self) -> LendingCalibration | None:
        """The fitted curves and demand ``calibration`` names; None for ``"none"``."""
        return load_calibration(NO_CALIBRATION if self.calibration is None else str(self.calibration))

    def reserve_params(self) -> dict[str, AaveReserveParams]:
        """The reserves' parameters: the 2025-03-19 snapshot with the calibrated rate curves."""
        calibration = self.calibrated()
        return aave_reserve_params() if calibration is None else calibration.reserve_params(aave_reserve_params())


def lending_sides(lending: LendingParams | Sequence[LendingParams] | None) -> tuple[LendingParams, ...]:
    """The lending sides a world is built with: none, one, or several (one per lending protocol, in order)."""
    sides = () if lending is None else (lending,) if isinstance(lending, LendingParams) else tuple(lending)
    protocols = [side.protocol for side in sides]
    if len(set(protocols)) != len(protocols):
        raise ValueError(
            f"lending sides {protocols}: a world holds one market per lending protocol (two would be the same "
            "contracts on a chain)"
        )
    return sides


class LendingMarket:
    """The lending side of a world: a lending pool component (``pool``, the one its protocol and backend give)
    beside the world's USDC/WETH pool, with the scripted borrowers, the crowd and the scripted liquidator written
    once on top of it, so every protocol and backend runs the same behaviour. A world holds one as its
    ``lending`` (``World.lending``); swaps go through the world's pool, wallets are the world's ledger's
    (the borrower agent's is ``borrower_wallet``). ``crowd`` runs the calibrated crowd where ``params`` names a
    calibration; a market attached to a real chain has its own borrowers instead."""

    lends = True  # a lending side among a world's components (``World.lending``)

    def __init__(self, world: Venue, pool: LendingPool, params: LendingParams, crowd: bool = True):
        self.world, self.pool, self.params = world, pool, params
        #: (N,) the gas units of each world's last swap through ``swap``: its venue's (a V3 pool's, a V2 pair's)
        self.swap_units = np.zeros(self.n)
        #: the calibration the crowd follows (None: no crowd)
        self.crowd = params.calibrated() if crowd else None

    @property
    def n(self) -> int:
        return self.world.n

    @property
    def dt(self) -> float:
        return self.world.dt

    @property
    def crowd_account(self) -> int:
        """The crowd's lending account, after the borrower agent's and the scripted borrowers'."""
        return self.params.borrowers + 1

    # --- the borrower agent's wallet (the world's ledger) ---------------------------------------
    def borrower_wallet(self) -> tuple[np.ndarray, np.ndarray]:
        """Idle (USDC, WETH) the borrower agent holds outside the lending pool, whole tokens."""
        usdc, weth = self.world.ledger.balances(BORROWER)
        return usdc / USDC_UNIT, weth / WETH_UNIT

    def fund_borrower(self, weth_raw: np.ndarray) -> None:
        """Give the borrower agent WETH (its starting capital)."""
        self.world.ledger.shift(BORROWER, np.zeros(self.n), weth_raw)

    def _borrower_moved(self, usdc_raw: np.ndarray, weth_raw: np.ndarray) -> None:
        """What a lending action of the borrower agent moved into (+) or out of (-) its wallet, raw."""
        self.world.ledger.moved(BORROWER, usdc_raw, weth_raw)

    # --- Aave, through the component --------------------------------------------------------
    def oracle_price(self) -> np.ndarray:
        """USD per WETH as Aave's oracle reports it (8 decimals)."""
        return self.pool.oracle_price()

    def position(self, account: int) -> Position:
        return self.pool.position(account)

    def supply(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Supply WETH as collateral; returns the protocol's error codes (0 on success)."""
        code = self.pool.supply(account, weth_raw, mask)
        if account == AGENT_ACCOUNT:
            self._borrower_moved(np.zeros(self.n), -np.where(mask & (code == 0), weth_raw, 0.0))
        return code

    def withdraw(self, account: int, weth_raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        got, code = self.pool.withdraw(account, weth_raw, mask)
        if account == AGENT_ACCOUNT:
            self._borrower_moved(np.zeros(self.n), got)
        return code

    def borrow(self, account: int, usdc_raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
        code = self.pool.borrow(account, usdc_raw, mask)
        if account == AGENT_ACCOUNT:
            self._borrower_moved(np.where(mask & (code == 0), usdc_raw, 0.0), np.zeros(self.n))
        return code

    def repay(self, account: int, usdc_raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Repay up to ``usdc_raw`` of the debt; returns (repaid, codes)."""
        paid, code = self.pool.repay(account, usdc_raw, mask)
        if account == AGENT_ACCOUNT:
            self._borrower_moved(-paid, np.zeros(self.n))
        return paid, code

    def liquidate(self, who: str, account: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``who`` liquidates as much of ``account``'s USDC debt as the close factor allows, taking WETH;
        returns (USDC repaid, WETH received, codes). Where an env keeps the block's accounts, the balances
        the liquidation moves are read before and after it and recorded there."""
        pool, accounts = self.pool, self.world.accounts
        if accounts is None or not mask.any():
            return pool.liquidation_call(who, account, mask)
        before = pool.lending_balances(who, account)
        result = pool.liquidation_call(who, account, mask)
        accounts.record_liquidation(before, pool.lending_balances(who, account))
        return result

    def swap(self, who: str, sell_usdc: np.ndarray, raw: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An exact-input swap through the world's pool from ``who``'s wallet (the LP agent's is the world's LP
        wallet: a V3 world's selected slot); returns (paid, got), raw."""
        world = self.world
        check_wallet(who, world.lp_agents)
        wallet, sell_usdc = world.lp if who == AGENT else who, np.asarray(sell_usdc, bool)
        venues: list[Venue | PoolBeside] = [world, *world.pools_beside] if self.params.route else [world]
        units = gas_units()
        if len(venues) == 1:
            self.swap_units = np.where(mask, float(units[world.SWAP_GAS]), self.swap_units)
            return world.trade(SWAP_GROUP[who], wallet, sell_usdc, raw, mask=mask)
        best = np.argmax(np.stack([venue.quote(wallet, sell_usdc, raw, mask) for venue in venues]), axis=0)
        paid, got = np.zeros(self.n), np.zeros(self.n)
        for i, venue in enumerate(venues):  # each world's swap on the venue that quoted it the most (ties: its own)
            where = mask & (best == i)
            self.swap_units = np.where(where, float(units[venue.SWAP_GAS]), self.swap_units)
            if where.any():
                venue_paid, venue_got = venue.trade(
                    SWAP_GROUP[who], wallet, sell_usdc, np.where(where, raw, 0.0), mask=where
                )
                paid, got = np.where(where, venue_paid, paid), np.where(where, venue_got, got)
        return paid, got

    # --- the scripted market ----------------------------------------------------------------
    def follow(self) -> None:
        """After the reference moved: the pool's clock moves a step and its oracle follows the reference."""
        self.pool.advance(self.dt)
        self.pool.set_oracle_price(self.world.reference_price())

    def step(self) -> None:
        """The block's lending side, after the world's pool has traded: the scripted liquidator clears unhealthy
        accounts, the borrowers re-lever."""
        self.liquidate_unhealthy(COMPETITOR)
        self.borrowers_act()

    def reset(self, rng: np.random.Generator) -> None:
        """An episode starts, once the world's pool has: the lending pool at its start, the borrower agent's wallet
        empty, the scripted borrowers' sizes and targets drawn and their positions opened, the crowd started."""
        self.pool.reset(self.world.reference_price())
        self.world.ledger.open(BORROWER, 0.0, 0.0)
        p, k = self.params, self.params.borrowers
        self._borrower_usd = p.borrower_usd * np.exp(0.5 * rng.standard_normal((self.n, k)))
        self._borrower_target = rng.uniform(*p.target_ltv, size=(self.n, k))
        self._scripted_borrowers_act()
        self.reset_crowd(rng)

    def borrowers_act(self) -> None:
        """The scripted borrowers act, then the crowd takes each calibrated reserve to its next utilization."""
        self._scripted_borrowers_act()
        self.crowd_hold(self.dt)

    def _scripted_borrowers_act(self) -> None:
        """Each scripted borrower opens a position if it has none, and borrows up to its target LTV
        when it has drifted ``relever_band`` below it."""
        every = np.ones(self.n, bool)
        for i in range(self.params.borrowers):
            account = i + 1
            pos = self.position(account)
            empty = pos.collateral_weth == 0
            if empty.any():
                size = np.floor(self._borrower_usd[:, i] / self.oracle_price() * WETH_UNIT)
                self.pool.fund_account(account, size, empty)
                self.supply(account, size, empty)
                pos = self.position(account)
            target = self._borrower_target[:, i]
            want = every & (pos.collateral_weth > 0) & (pos.ltv < target - self.params.relever_band)
            amount = np.floor(np.clip(target * pos.collateral_base - pos.debt_base, 0.0, None) / BASE_UNIT * USDC_UNIT)
            want &= amount > 0
            if want.any():
                self.borrow(account, amount, want)

    def utilization(self, symbol: str) -> np.ndarray:
        """Debt over cash + debt of a reserve, (N,): what its rate curve reads."""
        cash, debt = self.pool.reserve_usage(symbol)
        return np.where(debt > 0, debt / np.maximum(cash + debt, 1.0), 0.0)

    # --- the crowd --------------------------------------------------------------------------
    def reset_crowd(self, rng: np.random.Generator) -> None:
        """Start each calibrated reserve's demand on its fitted process, post the crowd's collateral, borrow."""
        calibration = self.crowd
        if calibration is None:
            return
        self._crowd_rng = rng.spawn(1)[0]  # a stream of its own: the market's draws stay as they were
        self._crowd_rate = {s: r.demand.start(self._crowd_rng, self.n) for s, r in calibration.reserves.items()}
        wbtc = np.floor(CROWD_COLLATERAL * self.params.supply_usd / WBTC_PRICE_USD * WBTC_UNIT)
        self.pool.crowd_act(self.crowd_account, "supply", "WBTC", np.full(self.n, wbtc), np.ones(self.n, bool))
        self.crowd_hold()

    def crowd_hold(self, seconds: float = 0.0) -> None:
        """Move the rate each calibrated reserve's borrowers will pay ``seconds`` along its process, then
        borrow or repay so the reserve sits at the utilization where its curve charges that rate (a borrow
        or a repay leaves cash + debt as it is)."""
        calibration = self.crowd
        if calibration is None:
            return
        for symbol, reserve in calibration.reserves.items():
            if seconds > 0:
                self._crowd_rate[symbol] = reserve.demand.advance(self._crowd_rate[symbol], seconds, self._crowd_rng)
            cash, debt = self.pool.reserve_usage(symbol)
            gap = np.floor(reserve.curve.utilization_at(self._crowd_rate[symbol]) * (cash + debt) - debt)
            lend, repay = gap > 0, gap < 0
            if lend.any() or repay.any():
                self.pool.crowd_rebalance(
                    self.crowd_account, symbol, np.where(lend, gap, 0.0), lend, np.where(repay, -gap, 0.0), repay
                )

    def account_positions(self) -> Position:
        """The borrower agent's and the scripted borrowers' positions, (N, 1 + K) each, the agent's first."""
        return self.pool.positions(self.params.borrowers + 1)

    def liquidatable(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(health factors, the debt a liquidator may repay, the bonus it earns doing so) of every lending account,
        the borrower agent's first, (N, 1 + K); debt and bonus in USD with 8 decimals, as the protocol's
        liquidation gives them (``LendingPool.liquidation_terms``)."""
        every = self.account_positions()
        return (every.health_factor, *self.pool.liquidation_terms(every))

    def liquidate_and_sell(self, who: str, account: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Liquidate ``account`` and sell the seized WETH into the pool: (profit in USDC raw, liquidated?)."""
        repaid, seized, code = self.liquidate(who, account, mask)
        done = mask & (code == 0) & (seized > 0)
        _, got = self.swap(who, np.zeros(self.n, bool), np.where(done, seized, 0.0), done)
        return np.where(done, got - repaid, 0.0), done

    def liquidate_unhealthy(self, who: str, mask: np.ndarray | None = None) -> np.ndarray:
        """The greedy liquidator: every account below a health factor of 1, the agent's included, in
        account order. Returns how many it liquidated per world."""
        mask = np.ones(self.n, bool) if mask is None else mask
        count = np.zeros(self.n)
        if not mask.any():
            return count
        for account in range(self.params.borrowers + 1):
            unhealthy = mask & (self.position(account).health_factor < 1)
            if unhealthy.any():
                _, done = self.liquidate_and_sell(who, account, unhealthy)
                count += done
        return count


def lending_of(world: World | UniswapV3Accounts) -> LendingMarket:
    """``world``'s lending side; a clear error for a world that holds no lending pool."""
    if world.lending is None:
        raise ValueError(
            f"{type(world).__name__} holds no lending pool (yet: a chain world builds its lending side when it is "
            "reset): the lending roles act in a world built with one (env.lending; "
            "UniswapV3World(..., lending=LendingParams()), ChainUniswapV3World(..., lending=...)), after reset"
        )
    return world.lending
