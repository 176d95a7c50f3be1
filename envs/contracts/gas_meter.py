"""Measure what each agent action costs in gas on the real contracts, on a real node (anvil), so the
simulator charges what a chain charges. Each action is measured the second time it runs, on accounts
that already hold the tokens involved: the steady-state cost an agent pays, not a first-touch storage
write. (The in-process EVM reports less: it charges no intrinsic gas and keeps storage warm from one
call to the next, so a transaction's receipt on a node is the figure to trust.)"""

from __future__ import annotations

from typing import Callable

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.market import Market, build_market
from envs.contracts.morpho_blue import deploy_morpho_blue
from envs.evm.anvil import AnvilChain
from envs.evm.chain import TxResult
from envs.units import MAX_UINT128, USDC, WAD, WETH

AGENT, BORROWER = DEV_ACCOUNTS[2], DEV_ACCOUNTS[3]


def _second(action: Callable[[], TxResult]) -> int:
    action()
    return action().gas_used


def measure_gas(market: Market | None = None) -> dict[str, int]:
    """Gas used per action, keyed by action name, on ``market`` or on the local market built on a fresh anvil."""
    if market is None:
        with AnvilChain() as chain:
            return _measure(build_market(chain))
    return _measure(market)


def _measure(m: Market) -> dict[str, int]:
    usdc, weth, wbtc = m.tokens["USDC"], m.tokens["WETH"], m.tokens["WBTC"]
    for token in (usdc, weth, wbtc):
        token.mint(AGENT, 10 ** (token.decimals + 7))
        token.mint(BORROWER, 10 ** (token.decimals + 7))
        for spender in (m.v3.router, m.v3.position_manager, m.v2.router, m.aave.pool):
            token.approve(AGENT, spender.address)
            token.approve(BORROWER, spender.address)
    gas: dict[str, int] = {"erc20_approve": _second(lambda: usdc.approve(AGENT, m.v3.router.address, 10**30))}
    router = m.v3.router
    legs = iter([(weth, usdc), (usdc, weth)] * 2)

    def v3_swap():
        a, b = next(legs)
        return router.transact(
            "exactInputSingle",
            (a.address, b.address, 500, AGENT, 2**64, WETH.raw(1) if a is weth else USDC.raw(2_000), 0, 0),
            sender=AGENT,
        )

    gas["v3_swap"] = _second(v3_swap)
    tick = m.v3_pools[500].call("slot0")[1] // 10 * 10
    npm = m.v3.position_manager
    ids = []

    def v3_mint():
        result = npm.transact(
            "mint",
            (
                usdc.address,
                weth.address,
                500,
                tick - 600,
                tick + 600,
                USDC.raw(10_000),
                WETH.raw(5),
                0,
                0,
                AGENT,
                2**64,
            ),
            sender=AGENT,
        )
        ids.append(npm.events(result, "IncreaseLiquidity")[0]["tokenId"])
        return result

    gas["v3_mint"] = _second(v3_mint)
    token_id = ids[-1]
    liquidity = m.v3.position(token_id)["liquidity"]
    gas["v3_decrease_liquidity"] = _second(
        lambda: npm.transact("decreaseLiquidity", (token_id, liquidity // 4, 0, 0, 2**64), sender=AGENT)
    )
    gas["v3_collect"] = _second(
        lambda: npm.transact("collect", (token_id, AGENT, MAX_UINT128, MAX_UINT128), sender=AGENT)
    )
    npm.transact("decreaseLiquidity", (token_id, m.v3.position(token_id)["liquidity"], 0, 0, 2**64), sender=AGENT)
    npm.transact("collect", (token_id, AGENT, MAX_UINT128, MAX_UINT128), sender=AGENT)
    gas["v3_burn"] = npm.transact("burn", token_id, sender=AGENT).gas_used

    v2_legs = iter([(weth, usdc), (usdc, weth)] * 2)

    def v2_swap():
        a, b = next(v2_legs)
        return m.v2.router.transact(
            "swapExactTokensForTokens",
            WETH.raw(1) if a is weth else USDC.raw(2_000),
            0,
            [a.address, b.address],
            AGENT,
            2**64,
            sender=AGENT,
        )

    gas["v2_swap"] = _second(v2_swap)
    router2 = m.v2.router
    gas["v2_add_liquidity"] = _second(
        lambda: router2.transact(
            "addLiquidity", usdc.address, weth.address, USDC.raw(2_000), WETH.raw(1), 0, 0, AGENT, 2**64, sender=AGENT
        )
    )
    pair = m.v2.pair(usdc, weth)
    pair.transact("approve", router2.address, 2**256 - 1, sender=AGENT)
    shares = pair.call("balanceOf", AGENT)
    gas["v2_remove_liquidity"] = _second(
        lambda: router2.transact(
            "removeLiquidity", usdc.address, weth.address, shares // 4, 0, 0, AGENT, 2**64, sender=AGENT
        )
    )

    pool = m.aave.pool
    gas["aave_supply"] = _second(
        lambda: pool.transact("supply", weth.address, WETH.raw(10), BORROWER, 0, sender=BORROWER)
    )
    gas["aave_borrow"] = _second(
        lambda: pool.transact("borrow", usdc.address, USDC.raw(5_000), 2, 0, BORROWER, sender=BORROWER)
    )
    gas["aave_repay"] = _second(
        lambda: pool.transact("repay", usdc.address, USDC.raw(1_000), 2, BORROWER, sender=BORROWER)
    )
    gas["aave_withdraw"] = _second(
        lambda: pool.transact("withdraw", weth.address, WETH.raw(1), BORROWER, sender=BORROWER)
    )
    limit = m.aave.user_account_data(BORROWER)["available_borrows_base"] * 10**USDC.decimals // m.aave.price(usdc)
    pool.transact("borrow", usdc.address, limit * 99 // 100, 2, 0, BORROWER, sender=BORROWER)
    m.aave.set_price("WETH", m.aave.price(weth) * 90 // 100)
    gas["aave_liquidation_call"] = _second(
        lambda: pool.transact(
            "liquidationCall", weth.address, usdc.address, BORROWER, USDC.raw(100), False, sender=AGENT
        )
    )
    return gas | _measure_morpho_blue(m)


def _measure_morpho_blue(m: Market) -> dict[str, int]:
    """Morpho Blue's calls on a USDC/WETH market deployed beside the local market (LLTV 86%, the oracle at
    Aave's WETH price): the agent lends the USDC, the borrower borrows it against WETH."""
    usdc, weth = m.tokens["USDC"], m.tokens["WETH"]
    price = m.aave.price(weth) * 10**16  # 8-decimal USD -> raw USDC per raw WETH x 1e36
    blue = deploy_morpho_blue(m.chain, usdc, weth, price)
    for who in (AGENT, BORROWER):
        blue.approve(who)
    blue.supply(AGENT, USDC.raw(1_000_000))
    gas = {"morpho_supply_collateral": _second(lambda: blue.supply_collateral(BORROWER, WETH.raw(10)))}
    gas["morpho_borrow"] = _second(lambda: blue.borrow(BORROWER, USDC.raw(5_000)))
    gas["morpho_repay"] = _second(lambda: blue.repay(BORROWER, assets=USDC.raw(1_000)))
    gas["morpho_withdraw_collateral"] = _second(lambda: blue.withdraw_collateral(BORROWER, WETH.raw(1)))
    limit = blue.position(BORROWER)["collateral"] * price // 10**36 * blue.lltv // WAD
    blue.borrow(BORROWER, limit - USDC.raw(10_000))
    blue.set_price(price * 90 // 100)
    quarter = blue.position(BORROWER)["borrowShares"] // 4  # by repaid shares, as the envs' liquidators repay
    gas["morpho_liquidate"] = _second(lambda: blue.liquidate(AGENT, BORROWER, repaid_shares=quarter))
    return gas
