"""Turn an action into a transaction plan by running the very code the env runs (the LP's rebalance,
the borrower's move to a target LTV) on an in-process fork (pyrevm) of the live chain at its latest
block: every transaction of the plan is simulated in order, and its exact calldata, gas and effects
are known before anything is signed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.live.guards import GuardConfig, decode
from agents.live.market import LiveAaveMarket, LiveUniswapV3Market
from envs.contracts.contract import abi_of
from envs.contracts.tokens import MAX_UINT256
from envs.evm.chain import Chain, TransactionReverted, Tx, TxResult
from envs.evm.revm import PyrevmChain
from envs.roles.borrower import lever_to
from envs.units import BASE_UNIT, USDC, WAD, WETH


@dataclass
class PlannedTx:
    tx: Tx
    contract: str  # artifact name
    function: str  # signature
    args: tuple
    gas_used: int
    notional_usd: float
    note: str = ""
    simulated: bytes = b""  # the calldata the planner's last simulation ran, byte for byte
    expected: tuple[int, ...] = ()  # the simulated amounts its minimums protect (swap: out; mint, decrease: 0, 1)

    def describe(self) -> dict:
        return {
            "to": self.tx.to,
            "function": self.function,
            "selector": "0x" + self.tx.data[:4].hex(),
            "gas_used": self.gas_used,
            "notional_usd": round(self.notional_usd, 2),
            "note": self.note,
        }


@dataclass
class Plan:
    actions: list[PlannedTx] = field(default_factory=list)
    error: str | None = None  # the simulation reverted: the action is skipped with this reason
    effects: dict[str, Any] = field(default_factory=dict)


class RecordingChain(Chain):
    """A chain that remembers every transaction sent through it, with its result."""

    def __init__(self, inner: Chain):
        self.inner, self.chain_id = inner, inner.chain_id
        self.recorded: list[tuple[Tx, TxResult]] = []

    def transact(self, tx: Tx, *, output: bool = False) -> TxResult:
        result = self.inner.transact(tx, output=output)
        self.recorded.append((tx, result))
        return result

    def deploy(self, sender, code, value=0):
        raise RuntimeError("a live plan never deploys contracts")

    def call(self, to, data, sender=None):
        return self.inner.call(to, data, sender) if sender else self.inner.call(to, data)

    def snapshot(self):
        return self.inner.snapshot()

    def revert(self, snapshot):
        self.inner.revert(snapshot)

    def block_number(self):
        return self.inner.block_number()

    def timestamp(self):
        return self.inner.timestamp()

    def advance_time(self, seconds):
        self.inner.advance_time(seconds)

    def get_balance(self, address):
        return self.inner.get_balance(address)

    def set_balance(self, address, wei):
        raise RuntimeError("a live plan never sets balances")

    def get_storage(self, address, slot):
        return self.inner.get_storage(address, slot)

    def set_storage(self, address, slot, value):
        raise RuntimeError("a live plan never writes storage")

    def get_code(self, address):
        return self.inner.get_code(address)


def plan_rebalance(
    rpc_url: str,
    addresses: dict,
    agent: str,
    fee_pips: int,
    half_width_ticks: int,
    guards: GuardConfig,
    reference_usd: float,
    fork_block: int | None = None,
) -> Plan:
    """Simulate close-swap-mint on a fork of ``rpc_url``; mins on the swap, the burn and the mint
    are set to the simulated amounts less ``guards.max_slippage``."""
    fork = RecordingChain(PyrevmChain(fork_url=rpc_url, fork_block=fork_block))
    market = LiveUniswapV3Market(fork, addresses, agent, fee_pips, dt=0.0)
    spenders = (market.market.v3.position_manager.address, market.market.v3.router.address)
    plan = _simulate(
        fork,
        market,
        spenders,
        guards,
        reference_usd,
        addresses,
        lambda: market.rebalance(np.array([half_width_ticks]), np.array([True])),
    )
    if not plan.error:
        plan.effects |= {"token_id": market.token_id, "range": [int(x[0]) for x in market.agent_range()[:2]]}
    return plan


def plan_close(
    rpc_url: str,
    addresses: dict,
    agent: str,
    fee_pips: int,
    guards: GuardConfig,
    reference_usd: float,
    fork_block: int | None = None,
) -> Plan:
    """Simulate withdrawing the position (decrease, collect, burn) on a fork of ``rpc_url``; the burn's
    minimums are the simulated amounts less ``guards.max_slippage``."""
    fork = RecordingChain(PyrevmChain(fork_url=rpc_url, fork_block=fork_block))
    market = LiveUniswapV3Market(fork, addresses, agent, fee_pips, dt=0.0)
    return _simulate(
        fork, market, (), guards, reference_usd, addresses, lambda: market.close_position(np.array([True]))
    )


def plan_recovery(
    rpc_url: str,
    addresses: dict,
    agent: str,
    fee_pips: int,
    guards: GuardConfig,
    reference_usd: float,
    unwind_borrower: bool,
    fork_block: int | None = None,
) -> Plan:
    """Finish what a plan cut short left on the chain: collect the tokens still owed to positions with no
    liquidity and burn those NFTs; after a borrower's interrupted plan (``unwind_borrower``), repay the
    debt with the borrowed asset still in the wallet and supply the collateral asset still in it."""
    fork = RecordingChain(PyrevmChain(fork_url=rpc_url, fork_block=fork_block))
    market = LiveAaveMarket(fork, addresses, agent, fee_pips, dt=0.0)

    def act() -> None:
        for token_id, pos in market.leftovers():
            market.collect_and_burn(token_id, pos["tokensOwed0"] > 0 or pos["tokensOwed1"] > 0)
        if not unwind_borrower:
            return
        aave, usdc, weth = market.market.aave, market.usdc, market.weth
        debt = aave.user_reserve_data(usdc, agent)["current_variable_debt"]
        if (repay := min(usdc.balance_of(agent), debt)) > 0:
            aave.repay(agent, usdc, repay)
        if (supply := weth.balance_of(agent)) > 0:
            aave.supply(agent, weth, supply)

    return _simulate(fork, market, (), guards, reference_usd, addresses, act)


def plan_leverage(
    rpc_url: str,
    addresses: dict,
    agent: str,
    fee_pips: int,
    target_ltv: float,
    guards: GuardConfig,
    reference_usd: float,
    fork_block: int | None = None,
) -> Plan:
    """Simulate the borrower's rounds toward ``target_ltv`` (borrow-swap-supply, or
    withdraw-swap-repay) on a fork of ``rpc_url``; the swaps carry minimums from QuoterV2."""
    fork = RecordingChain(PyrevmChain(fork_url=rpc_url, fork_block=fork_block))
    market = LiveAaveMarket(fork, addresses, agent, fee_pips, dt=0.0)
    spenders = (market.market.v3.router.address, market.market.aave.pool.address)
    plan = _simulate(
        fork,
        market,
        spenders,
        guards,
        reference_usd,
        addresses,
        lambda: lever_to(market.lending, np.array([target_ltv]), np.array([True])),
    )
    if not plan.error:
        plan.effects["ltv"] = float(market.lending.position(0).ltv[0])
    return plan


def _simulate(
    fork: RecordingChain, market, spenders, guards: GuardConfig, reference_usd: float, addresses: dict, act
) -> Plan:
    """Approve ``spenders`` where needed, run ``act`` on the fork, set each transaction's minimums and
    deadline, and run the final calldata once more from the same start: that is the plan."""
    agent = market.agent
    market.v3_pool.max_slippage = guards.max_slippage  # on every swap the plan simulates
    plan = Plan()
    start = fork.snapshot()
    deadline = fork.timestamp() + guards.max_deadline_s
    try:
        for token in (market.usdc, market.weth):
            for spender in spenders:
                if token.contract.call("allowance", agent, spender) < MAX_UINT256 // 2:
                    token.approve(agent, spender)
        act()
    except TransactionReverted as err:
        plan.error = f"simulation reverted: {err.reason}"
        return plan
    prices = {
        market.usdc.address.lower(): (1.0, USDC.decimals),
        market.weth.address.lower(): (reference_usd, WETH.decimals),
    }
    drafted = []
    for tx, result in fork.recorded:
        contract, fn, args = decode(addresses, tx.to, tx.data)
        expected = _expected(contract, fn, result)
        final = _with_limits(fn, args, expected, guards.max_slippage, deadline)
        data = abi_of(contract).function(fn).encode(*final)
        drafted.append((Tx(tx.sender, tx.to, data, tx.value), contract, fn, final, expected))
    fork.revert(start)
    for i, (tx, contract, fn, final, expected) in enumerate(drafted):
        try:
            result = fork.inner.transact(tx)
        except TransactionReverted as err:
            plan.error = f"the final plan reverts at step {i + 1} ({fn.split('(')[0]}): {err.reason}"
            plan.actions = []
            return plan
        plan.actions.append(
            PlannedTx(
                tx,
                contract,
                fn,
                final,
                result.gas_used,
                _notional(contract, fn, final, result, prices, addresses),
                simulated=tx.data,
                expected=expected,
            )
        )
    account = market.market.aave.user_account_data(agent)  # after the whole plan, on the fork
    plan.effects = {
        "aave_debt_usd": account["total_debt_base"] / BASE_UNIT,
        "health_factor": account["health_factor"] / WAD if account["total_debt_base"] else None,
    }
    return plan


def _expected(contract: str, fn: str, result: TxResult) -> tuple[int, ...]:
    """The amounts a transaction's minimums protect, from its simulated events."""
    if fn.startswith("exactInputSingle("):
        (swap,) = abi_of("UniswapV3Pool").decode_logs(result.logs, "Swap")
        return (-min(swap["amount0"], swap["amount1"]),)
    if contract == "NonfungiblePositionManager" and fn.split("(")[0] in ("mint", "decreaseLiquidity"):
        name = "IncreaseLiquidity" if fn.startswith("mint(") else "DecreaseLiquidity"
        (ev,) = abi_of(contract).decode_logs(result.logs, name)
        return ev["amount0"], ev["amount1"]
    return ()


def _with_limits(fn: str, args: tuple, expected: tuple[int, ...], slippage: float, deadline: int) -> tuple:
    """``args`` with minimums at the simulated amounts less ``slippage``, and ``deadline``."""
    keep = 1 - slippage
    name = fn.split("(")[0]
    if name == "exactInputSingle":  # (tokenIn, tokenOut, fee, recipient, deadline, amountIn, amountOutMinimum, limit)
        p = list(args[0])
        p[4], p[6] = deadline, int(expected[0] * keep)
        return (tuple(p),)
    if name == "mint" and len(args[0]) == 11:  # (..., amount0Min, amount1Min, recipient, deadline)
        p = list(args[0])
        p[7], p[8], p[10] = int(expected[0] * keep), int(expected[1] * keep), deadline
        return (tuple(p),)
    if name == "decreaseLiquidity":  # (tokenId, liquidity, amount0Min, amount1Min, deadline)
        p = list(args[0])
        p[2], p[3], p[4] = int(expected[0] * keep), int(expected[1] * keep), deadline
        return (tuple(p),)
    return args


def _notional(contract, fn, args, result, prices, addresses) -> float:
    """USD value the transaction moves (approvals and collects move none by themselves)."""

    def usd(token, raw):
        price, decimals = prices.get(token.lower(), (0.0, 18))
        return raw / 10**decimals * price

    if fn.startswith("exactInputSingle("):
        token_in, _, _, _, _, amount_in, _, _ = args[0]
        return usd(token_in, amount_in)
    if contract == "Pool":  # supply, borrow, repay, withdraw: (asset, amount, ...)
        return usd(args[0], args[1])
    if fn.startswith("mint(") or fn.startswith("decreaseLiquidity("):
        name = "IncreaseLiquidity" if fn.startswith("mint(") else "DecreaseLiquidity"
        (ev,) = abi_of(contract).decode_logs(result.logs, name)
        usdc = addresses["tokens"]["USDC"]["address"]
        weth = addresses["tokens"]["WETH"]["address"]
        return usd(usdc, ev["amount0"]) + usd(weth, ev["amount1"])
    return 0.0
