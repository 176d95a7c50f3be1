"""The Uniswap V3 + Aave V3 market on an EVM rung: the local market's real Pool, AaveOracle and
SwapRouter, driven as ``sim_lending`` drives the simulator (same price path, same borrowers, same
scripted liquidator), so the two can be compared step by step. The chain's clock moves ``dt`` a
step (each step starts at the simulator's time; its transactions then land in blocks of their own,
12 s apart)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import Market
from envs.contracts.morpho_blue import MorphoBlue
from envs.contracts.oracle import control_price
from envs.drivers.base import PriceDriver
from envs.evm.chain import Chain
from envs.units import BASE_UNIT
from envs.worlds.chain_aave_pool import ChainAavePool
from envs.worlds.chain_world import AGENT as AGENT_ADDRESS
from envs.worlds.chain_world import ARBITRAGEUR, ARBITRAGEUR_AGENT, ChainUniswapV3World
from envs.worlds.lending import (
    AGENT,
    AGENT_LIQUIDATOR,
    BORROWER,
    MORPHO_BLUE,
    WALLETS,
    LendingMarket,
    LendingParams,
    check_wallet,
)
from envs.worlds.lending_pool import LendingPool
from envs.worlds.morpho_blue_market import ChainMorphoBlueMarket, deploy_market
from envs.worlds.sim import V3WorldParams

BORROWER_ADDRESS = DEV_ACCOUNTS[3]  # the borrower agent's account in the chain worlds


def one_moment_a_step(chain: Chain) -> None:
    """Mine a step's blocks at the step's timestamp, as the simulator's step is one moment: at the calibrated
    rates, interest over 12 s blocks would otherwise part the two by dollars a day on a levered position."""
    from envs.evm.anvil import AnvilChain
    from envs.evm.revm import PyrevmChain

    if isinstance(chain, PyrevmChain):
        chain.block_interval = 0
    elif isinstance(chain, AnvilChain):
        chain.rpc.request("anvil_setBlockTimestampInterval", [0])


def aave_wallet(who: str, lp_agent: str, borrower: str, lp_agents: int = 1) -> str:
    """The chain account behind a wallet name of the Aave market: the LP agent's, the borrower agent's, the
    learning liquidator's; the scripted competitor and the traders share the scripted arbitrageur's account
    (their books are kept by their roles). An unknown name fails (``check_wallet``)."""
    check_wallet(who, lp_agents)
    return {AGENT: lp_agent, BORROWER: borrower, AGENT_LIQUIDATOR: ARBITRAGEUR_AGENT}.get(who, ARBITRAGEUR)


class ChainLendingWorld(ChainUniswapV3World):
    """The Uniswap V3 world on a chain with a lending side (``LendingMarket``) over the chain's lending pool
    component (``ChainAavePool``, or ``ChainMorphoBlueMarket`` for a Morpho Blue market deployed beside the built
    one). With ``book`` (attach mode) the world runs on the Aave market and USDC/WETH pool a fork already
    holds: WETH's oracle source is pointed at a controllable aggregator by the impersonated ACL admin
    (``envs.contracts.oracle``), which then follows the reference price; accounts are funded by storage."""

    lending: LendingMarket

    def __init__(
        self,
        make_chain: Callable[[], Chain],
        driver: PriceDriver,
        params: V3WorldParams = V3WorldParams(),
        lending: LendingParams = LendingParams(),
        book: dict | None = None,
    ):
        super().__init__(make_chain, driver, params, book)
        self.lending_params, self.borrower = lending, BORROWER_ADDRESS
        self.aave_supply_usd = lending.supply_usd  # what build_market seeds each reserve with
        if book is not None and lending.protocol == MORPHO_BLUE:
            raise ValueError(
                "lending.protocol=morpho_blue deploys its own Morpho Blue market: run it with backend.market=deploy"
            )
        if book is None and (lending.calibrated() is not None or lending.protocol == MORPHO_BLUE):
            one_moment_a_step(self.chain)
        self._morpho: MorphoBlue | None = None  # Morpho Blue's market, once deployed beside the built one

    def bind(self, market: Market, fee_pips: int, credit=None) -> None:
        super().bind(market, fee_pips, credit)
        pool: LendingPool
        if self._morpho is not None:
            pool = ChainMorphoBlueMarket(self._morpho, self.borrower, self._wallet, self._credit)
        else:
            pool = ChainAavePool(market.aave, market.tokens, self.borrower, self._wallet, self._credit)
        self.lending = LendingMarket(self, pool, self.lending_params, crowd=self.book is None)

    def reset(self, rng: np.random.Generator, agent_usd: float | None = None) -> None:
        super().reset(rng, agent_usd)
        self.lending.reset(rng)

    def _fund_traders(self) -> None:
        """Also let the agents and the competitor deal with the Aave pool (once per build: the
        approvals are in the snapshot every episode starts from)."""
        super()._fund_traders()
        m = self.market
        if self.book is not None:  # the real feed cannot be moved: WETH's source becomes one that can
            control_price(m.aave, m.tokens["WETH"], round(self._anchor * BASE_UNIT))
        elif (calibration := self.lending_params.calibrated()) is not None:  # a built market: the fitted curves
            params = self.lending_params.reserve_params()
            for symbol in calibration.reserves:
                m.aave.set_rate_curve(m.tokens[symbol], params[symbol])
        lp_agent = [AGENT_ADDRESS] if self.params.lps else []  # the LP agent's wallet, where the world has one
        if self.lending_params.protocol == MORPHO_BLUE:
            spenders = lp_agent + [ARBITRAGEUR, ARBITRAGEUR_AGENT, self.borrower]
            self._morpho = deploy_market(
                m.tokens,
                float(self._reference[0]),
                self.lending_params.lltv,
                self.lending_params.supply_usd,
                spenders,
                self._credit,
            )
        for token in (m.tokens["USDC"], m.tokens["WETH"]):
            for who in lp_agent + [ARBITRAGEUR, ARBITRAGEUR_AGENT, self.borrower]:
                token.approve(who, m.aave.pool.address)
            token.approve(self.borrower, m.v3.router.address)

    # --- the market's wallets --------------------------------------------------------------
    def _wallet(self, who: str) -> str:
        return aave_wallet(who, self.agent, self.borrower, self.params.lps)

    def _named_address(self, wallet: str) -> str:
        return self._wallet(wallet) if wallet in WALLETS else super()._named_address(wallet)

    def move_reference(self) -> None:
        super().move_reference()
        self.lending.follow()
