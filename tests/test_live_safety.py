"""The live adapter as an attacker and a careless user would try it, against a real anvil serving the
local mainnet: forged and malformed plans, a manipulated pool, bad settings, keys in the wrong place,
refused RPC requests, pending transactions, and plans cut short at every step."""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from pathlib import Path

import pytest

from agents.live.adapter import LiveAdapter, LiveStop
from agents.live.guards import GuardConfig
from agents.live.journal import Journal
from agents.live.planner import Plan, PlannedTx, plan_leverage, plan_rebalance
from agents.live.secrets import SecretInConfigError
from agents.live.validation import LiveConfigError, validate
from envs.contracts.contract import abi_of
from envs.contracts.localnet import read_addresses
from envs.contracts.market import Market
from tests.local_mainnet import AGENT, AGENT_KEY, WHALE
from tests.test_deploy import _config, _nonce, _oracle_follows_the_pool, _pool_usd

OTHER_TOKEN = "0x" + "42" * 20  # no contract of the market


def _open_position(market: Market, half_width: int = 200) -> int:
    """The agent's own position around the pool's tick, opened outside the adapter."""
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    tick = market.v3_pools[500].call("slot0")[1] // 10 * 10
    return market.v3.mint(
        AGENT, usdc, weth, 500, tick - half_width, tick + half_width, 20_000 * 10**6, 5 * 10**18
    ).token_id


def _push_pool(market: Market, usdc_in: int = 8_000_000) -> None:
    """A whale buys ETH with ``usdc_in`` USDC in the 0.05% pool: its price rises away from the oracle."""
    usdc = market.tokens["USDC"]
    usdc.mint(WHALE, usdc_in * 10**6)
    usdc.approve(WHALE, market.v3.router.address)
    market.v3.exact_input_single(WHALE, usdc, market.tokens["WETH"], 500, usdc_in * 10**6)


def _supply_collateral(market: Market, weth: int = 10) -> None:
    market.tokens["WETH"].mint(AGENT, weth * 10**18)
    market.aave.supply(AGENT, market.tokens["WETH"], weth * 10**18)


# --- guards on the transaction itself ---------------------------------------------------------------


def _encode(step: PlannedTx, function: str, args: tuple, **tx_changes) -> PlannedTx:
    """``step`` calling ``function`` with ``args``, its calldata, label and simulated bytes all agreeing:
    a forged plan made self-consistent, so only the decoded arguments can give it away."""
    data = abi_of(step.contract).function(function).encode(*args)
    return dataclasses.replace(
        step, tx=dataclasses.replace(step.tx, data=data, **tx_changes), function=function, args=args, simulated=data
    )


def _param(step: PlannedTx, index: int, value) -> PlannedTx:
    """``step`` with field ``index`` of its struct argument set to ``value`` (calldata re-encoded)."""
    params = list(step.args[0])
    params[index] = value
    return _encode(step, step.function, (tuple(params),))


def _arg(step: PlannedTx, index: int, value) -> PlannedTx:
    args = list(step.args)
    args[index] = value
    return _encode(step, step.function, tuple(args))


def _raw(step: PlannedTx, **changes) -> PlannedTx:
    """``step`` with its transaction changed and nothing else (label, arguments, simulated bytes kept)."""
    return dataclasses.replace(step, tx=dataclasses.replace(step.tx, **changes))


def _other(step: PlannedTx, contract: str, function: str, *args) -> PlannedTx:
    """A call of another function (of ``contract`` at the step's address), labelled honestly."""
    data = abi_of(contract).function(function).encode(*args)
    signature = next(f.signature for f in abi_of(contract).functions.values() if f.selector == data[:4])
    return dataclasses.replace(
        step,
        tx=dataclasses.replace(step.tx, data=data),
        contract=contract,
        function=signature,
        args=tuple(args),
        simulated=data,
    )


def _cases(rebalance: list[PlannedTx], lever: list[PlannedTx], book: dict, now: int) -> list[tuple[str, list, str]]:
    """(name, the plan's transactions, a phrase the refusal must contain): each forged or malformed."""
    approve, decrease, collect, burn, swap, mint = (rebalance[i] for i in (0, 2, 3, 4, 5, 8))
    borrow, supply = lever[3], lever[5]
    usdc, weth, wbtc = (book["tokens"][s]["address"] for s in ("USDC", "WETH", "WBTC"))
    npm, router, pool = (
        book["uniswap_v3"]["nonfungible_position_manager"],
        book["uniswap_v3"]["swap_router"],
        book["aave_v3"]["pool"],
    )
    far = 2**64
    swap_low = _param(dataclasses.replace(swap, expected=(swap.args[0][6] // 500,)), 6, swap.args[0][6] // 500)

    def at(i: int, step: PlannedTx, steps=rebalance) -> list[PlannedTx]:
        return steps[:i] + [step] + steps[i + 1 :]

    return [
        ("swap pays another address", at(5, _param(swap, 3, WHALE)), "pays 0x"),
        ("swap minimum 0", at(5, _param(swap, 6, 0)), "minimum of 0"),
        ("swap minimum below the slippage", at(5, _param(swap, 6, swap.args[0][6] * 9 // 10)), "below the simulated"),
        ("swap deadline 2**64", at(5, _param(swap, 4, far)), "deadline"),
        ("swap deadline passed", at(5, _param(swap, 4, now - 1)), "deadline"),
        ("swap deadline an hour out", at(5, _param(swap, 4, now + 3600)), "deadline"),
        ("swap in another pair", at(5, _param(swap, 0, wbtc)), "not the configured"),
        ("swap in another fee tier", at(5, _param(swap, 2, 3000)), "not the configured"),
        ("swap at a price far from the oracle", at(5, swap_low), "at the oracle price"),
        ("swap with ETH attached", at(5, _raw(swap, value=1)), "attaches 1 wei"),
        ("swap sent from another account", at(5, _raw(swap, sender=WHALE)), "is sent from"),
        ("swap calldata to an unknown contract", at(5, _raw(swap, to=OTHER_TOKEN)), "not a contract of the market"),
        ("swap calldata sent to a token", at(5, _raw(swap, to=usdc)), "no function of MintableERC20"),
        ("swap calldata truncated", at(5, _raw(swap, data=swap.tx.data[:40])), "does not decode"),
        (
            "swap calldata not what was simulated",
            at(5, dataclasses.replace(_param(swap, 5, swap.args[0][5] + 1), simulated=swap.simulated)),
            "not what the planner simulated",
        ),
        (
            "swap arguments differ from the calldata",
            at(5, dataclasses.replace(swap, args=_param(swap, 3, WHALE).args)),
            "other arguments than the plan lists",
        ),
        (
            "swap labelled as an approve",
            at(5, dataclasses.replace(swap, contract="MintableERC20", function=approve.function)),
            "labelled",
        ),
        (
            "swap amount above the per-tx cap",
            at(5, _param(dataclasses.replace(swap, expected=(10**30,)), 5, 10**18 * 10**6)),
            "per-transaction cap",
        ),
        (
            "multi-hop swap",
            at(5, _other(swap, "SwapRouter", "exactInput", (b"\x00" * 43, AGENT, now + 60, 10, 1))),
            "not allowlisted",
        ),
        ("mint for another address", at(8, _param(mint, 9, WHALE)), "gives the position to"),
        ("mint amount0Min 0", at(8, _param(mint, 7, 0)), "minimum of 0"),
        ("mint amount1Min 0", at(8, _param(mint, 8, 0)), "minimum of 0"),
        ("mint minimum below the slippage", at(8, _param(mint, 7, mint.args[0][7] // 2)), "below the simulated"),
        ("mint deadline 2**64", at(8, _param(mint, 10, far)), "deadline"),
        ("mint in another pair", at(8, _param(mint, 0, wbtc)), "not the configured pool"),
        ("mint in another fee tier", at(8, _param(mint, 2, 3000)), "not the configured pool"),
        ("mint with ETH attached", at(8, _raw(mint, value=10**18)), "attaches"),
        ("decrease with minimums 0", at(2, _param(_param(decrease, 2, 0), 3, 0)), "minimum of 0"),
        ("decrease deadline 2**64", at(2, _param(decrease, 4, far)), "deadline"),
        ("collect pays another address", at(3, _param(collect, 1, WHALE)), "collect pays"),
        (
            "NFT transferred away",
            at(
                4,
                _other(
                    burn,
                    "NonfungiblePositionManager",
                    "safeTransferFrom(address,address,uint256)",
                    AGENT,
                    WHALE,
                    burn.args[0],
                ),
            ),
            "not allowlisted",
        ),
        (
            "NFT operator approval",
            at(4, _other(burn, "NonfungiblePositionManager", "setApprovalForAll", WHALE, True)),
            "not allowlisted",
        ),
        ("approve to another spender", at(0, _arg(approve, 0, WHALE)), "approve to"),
        ("token transfer", at(0, _other(approve, "MintableERC20", "transfer", WHALE, 10**6)), "not allowlisted"),
        (
            "token transferFrom",
            at(0, _other(approve, "MintableERC20", "transferFrom", AGENT, WHALE, 10**6)),
            "not allowlisted",
        ),
        ("borrow for another account", at(3, _arg(borrow, 4, WHALE), lever), "acts for"),
        ("borrow at the stable rate", at(3, _arg(borrow, 2, 1), lever), "interest rate mode"),
        (
            "borrow of a token outside the market",
            at(3, _arg(borrow, 0, OTHER_TOKEN), lever),
            "not a token of the market",
        ),
        ("supply for another account", at(5, _arg(supply, 2, WHALE), lever), "acts for"),
        (
            "withdraw to another address",
            at(5, _other(supply, "Pool", "withdraw", weth, 10**18, WHALE), lever),
            "acts for",
        ),
        ("repay for another account", at(5, _other(supply, "Pool", "repay", usdc, 10**6, 2, WHALE), lever), "acts for"),
        (
            "collateral switched off",
            at(5, _other(supply, "Pool", "setUserUseReserveAsCollateral", weth, False), lever),
            "not allowlisted",
        ),
        (
            "flash loan",
            at(5, _other(supply, "Pool", "flashLoanSimple", WHALE, usdc, 10**6, b"", 0), lever),
            "not allowlisted",
        ),
        ("Pool calldata sent to the router", at(5, _raw(supply, to=router), lever), "no function of SwapRouter"),
        ("NFT approval (ERC-721 approve) to another address", at(0, _raw(approve, to=npm)), "not allowlisted"),
        (
            "Pool call labelled as the router",
            at(5, dataclasses.replace(supply, contract="SwapRouter"), lever),
            "labelled",
        ),
        ("supply with ETH attached", at(5, _raw(supply, value=1), lever), "attaches"),
        ("borrow sent from another account", at(3, _raw(borrow, sender=WHALE), lever), "is sent from"),
        (
            "borrow calldata to the pool address in the wrong case",
            at(3, _raw(borrow, to=pool.lower(), sender=WHALE), lever),
            "is sent from",
        ),
    ]


def test_forged_and_malformed_plans_are_each_blocked_with_the_reason_journaled(fresh, tmp_path):
    anvil, addresses, market = fresh
    _open_position(market)
    _push_pool(market, 2_000_000)  # the position is now out of range: a rebalance swaps and mints
    _oracle_follows_the_pool(market)
    book = read_addresses(Path(addresses).parent)
    guards = GuardConfig(kill_switch_file=str(tmp_path / "KILL"))
    rebalance = plan_rebalance(anvil.url, book, AGENT, 500, 300, guards, _pool_usd(market))
    _supply_collateral(market)
    lever = plan_leverage(anvil.url, book, AGENT, 500, 0.5, guards, _pool_usd(market))
    assert [a.function.split("(")[0] for a in rebalance.actions] == [
        "approve",
        "approve",
        "decreaseLiquidity",
        "collect",
        "burn",
        "exactInputSingle",
        "approve",
        "approve",
        "mint",
    ]
    assert [a.function.split("(")[0] for a in lever.actions][3:6] == ["borrow", "exactInputSingle", "supply"]

    adapter = LiveAdapter(_config(anvil, addresses, tmp_path, guards={"min_health_factor": 1.05}))
    adapter.connect()
    for honest in (rebalance, lever):  # the planner's own plans pass
        assert adapter.submit(0, [], None, honest) == "dry-run"
    cases = _cases(rebalance.actions, lever.actions, book, market.chain.timestamp())
    assert len(cases) >= 40
    missed = []
    for name, steps, phrase in cases:
        before = len(adapter.journal.decisions())
        outcome = adapter.submit(0, [], name, Plan(actions=steps, effects=dict(lever.effects)))
        decision = adapter.journal.decisions()[before]
        if outcome != "blocked" or decision["outcome"] != "blocked" or phrase not in decision["reasons"]:
            missed.append((name, outcome, decision["reasons"]))
    assert not missed, missed


# --- the market sanity guard ------------------------------------------------------------------------


def test_a_pool_pushed_away_from_the_oracle_is_not_traded_into(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    _push_pool(market)  # about 11% above the oracle: a manipulated or sandwiched pool
    before = _nonce(market)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    assert _nonce(market) == before
    (decision,) = Journal(tmp_path / "journal.sqlite").decisions()
    assert decision["outcome"] == "blocked" and "from the oracle" in decision["reasons"]


def test_a_pool_away_from_its_own_twap_is_not_traded_into(fresh, tmp_path, monkeypatch):
    """The oracle was moved with the pool (a manipulated oracle, or one that follows the pool): the pool's
    own time-weighted price still shows the jump."""
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    pool, rpc = market.v3_pools[500], market.chain.rpc
    pool.transact("increaseObservationCardinalityNext", 16, sender=WHALE)
    _push_pool(market, 1_000)  # a small swap writes an observation at the old price
    rpc.request("evm_increaseTime", [900])
    rpc.request("evm_mine")
    _push_pool(market)
    _oracle_follows_the_pool(market)
    rpc.request("evm_increaseTime", [12])
    rpc.request("evm_mine")
    before = _nonce(market)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    assert _nonce(market) == before
    (decision,) = Journal(tmp_path / "journal.sqlite").decisions()
    assert decision["outcome"] == "blocked" and "TWAP" in decision["reasons"]
    assert "from the oracle" not in decision["reasons"]


# --- settings checked before anything connects --------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [
        ("max_notional_usd_per_tx", math.nan),
        ("max_notional_usd_per_tx", -1.0),
        ("max_notional_usd_per_day", math.nan),
        ("max_notional_usd_per_day", -5.0),
        ("max_slippage", math.nan),
        ("max_slippage", 1.0),
        ("max_slippage", -0.01),
        ("max_gas_price_gwei", math.nan),
        ("max_gas_price_gwei", math.inf),
        ("max_sends_per_hour", -1),
        ("min_health_factor", math.nan),
        ("min_health_factor", 0.9),
        ("max_price_deviation", math.nan),
        ("max_price_deviation", 0.0),
        ("max_price_deviation", 1.5),
        ("max_deadline_s", 0),
        ("twap_window_s", -60),
    ],
)
def test_a_guard_set_to_nan_or_out_of_range_fails_at_start_naming_the_key(tmp_path, key, value):
    config = _config(
        type("Node", (), {"url": "http://127.0.0.1:1"})(), tmp_path / "none.json", tmp_path, guards={key: value}
    )
    with pytest.raises(LiveConfigError, match=f"live.guards.{key} must be"):
        LiveAdapter(config)  # raised before the (missing) address book is read or any node is called


@pytest.mark.parametrize(
    "change, key",
    [
        ({"gas_bump": 1.0}, "gas_bump"),
        ({"poll_seconds": math.nan}, "poll_seconds"),
        ({"every_blocks": 0}, "every_blocks"),
        ({"fee_pips": 123}, "fee_pips"),
        ({"rpc_urls": ["ws://x"]}, "rpc_urls"),
        ({"account": "0xabc"}, "account"),
        ({"receipt_timeout_s": -1.0}, "receipt_timeout_s"),
        ({"key_env": "not a name"}, "key_env"),
    ],
)
def test_other_live_settings_are_checked_too(tmp_path, change, key):
    config = _config(type("Node", (), {"url": "http://127.0.0.1:1"})(), tmp_path / "none.json", tmp_path, **change)
    with pytest.raises(LiveConfigError, match=f"live.{key}"):
        validate(config)


def test_deploy_py_exits_non_zero_on_a_nan_guard_before_connecting(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "deploy.py",
            "live.guards.max_notional_usd_per_tx=nan",
            "live.guards.max_slippage=1.0",
            "live.rpc_urls=[http://127.0.0.1:1]",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "live.guards.max_notional_usd_per_tx" in result.stderr and "live.guards.max_slippage" in result.stderr
    assert "cannot reach" not in result.stderr  # it never tried the node


# --- keys never echoed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        "live.account={key}",
        "live.key_env={key}",
        "live.keystore={key}",
        "+live.private_key={key}",
        "live.account={bare}",
    ],
)
def test_a_private_key_in_any_field_is_refused_and_never_printed_or_written(tmp_path, override):
    import subprocess
    import sys

    key = AGENT_KEY
    arg = override.format(key=key, bare=key[2:])
    journal = tmp_path / "journal.sqlite"
    result = subprocess.run(
        [sys.executable, "deploy.py", arg, f"live.journal={journal}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "looks like a private key" in result.stderr
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for text in [result.stdout.encode(), result.stderr.encode(), *written]:
        assert key[2:].encode() not in text and key[2:].upper().encode() not in text


def test_a_key_in_a_config_field_is_refused_without_echo():
    from agents.live.adapter import LiveConfig

    with pytest.raises(SecretInConfigError) as err:
        validate(LiveConfig(account=AGENT_KEY))
    assert AGENT_KEY[2:] not in str(err.value) and "account" in str(err.value)


# --- RPC errors classified -----------------------------------------------------------------------------


def test_a_request_the_node_refuses_stops_the_adapter_instead_of_reconnecting_forever(fresh, tmp_path):
    anvil, addresses, market = fresh
    adapter = LiveAdapter(_config(anvil, addresses, tmp_path, reconnect_timeout_s=300.0, max_decisions=None))
    adapter.account = "0x" + "zz" * 20  # an account the node cannot parse (validation would refuse it at start)
    started = time.monotonic()
    with pytest.raises(LiveStop, match="refused a request"):
        adapter.run()
    assert time.monotonic() - started < 30


# --- pending transactions ---------------------------------------------------------------------------------


def test_a_transaction_still_pending_is_never_marked_replaced_and_nothing_new_is_sent(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    rpc = market.chain.rpc
    latest = _nonce(market)
    rpc.request("evm_setAutomine", [False])
    try:  # a cap too low to replace: the first transaction stays in the mempool
        LiveAdapter(_config(anvil, addresses, tmp_path, send=True, receipt_timeout_s=0.5, max_replacements=0)).run()
        (first,) = Journal(tmp_path / "journal.sqlite").transactions()
        assert first["status"] == "sent"
        pending = int(rpc.request("eth_getTransactionCount", [AGENT, "pending"]), 16)
        LiveAdapter(_config(anvil, addresses, tmp_path, send=True, receipt_timeout_s=0.5)).run()
        assert Journal(tmp_path / "journal.sqlite").decisions()[-1]["outcome"] == "waiting"
        assert int(rpc.request("eth_getTransactionCount", [AGENT, "pending"]), 16) == pending  # nothing new sent
        assert len(Journal(tmp_path / "journal.sqlite").transactions()) == 1
    finally:
        rpc.request("evm_setAutomine", [True])
    rpc.request("evm_mine")
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    assert sent[0]["status"] == "mined"
    assert [tx["nonce"] for tx in sent] == list(range(latest, latest + len(sent)))


# --- plans cut short, at every step ---------------------------------------------------------------------


def _run_until_cut(adapter: LiveAdapter, market: Market, kill_file: Path, cut_after: int) -> None:
    """Run ``adapter`` in a thread with automine off, mining one block per transaction; once ``cut_after``
    of them are mined the kill switch is thrown, so the plan stops there, as a crash would stop it."""
    rpc, journal = market.chain.rpc, adapter.journal
    rpc.request("evm_setAutomine", [False])
    errors: list[BaseException] = []

    def target():
        try:
            adapter.run()
        except BaseException as err:  # noqa: BLE001  (reported below)
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while thread.is_alive() and time.monotonic() < deadline:
            if len(journal.transactions()) == cut_after:
                kill_file.write_text("")
            if any(tx["status"] == "sent" for tx in journal.transactions()):
                rpc.request("evm_mine")
            time.sleep(0.05)
        thread.join(timeout=30)
    finally:
        rpc.request("evm_setAutomine", [True])
    assert not errors, errors
    assert len(journal.transactions()) == cut_after, (
        "the plan was not cut where the test meant",
        [(d["outcome"], d["reasons"]) for d in journal.decisions()],
    )


def _owed_nothing_and_one_position(market: Market) -> None:
    npm = market.v3.position_manager
    positions = [
        market.v3.position(npm.call("tokenOfOwnerByIndex", AGENT, i)) for i in range(npm.call("balanceOf", AGENT))
    ]
    assert all(p["tokensOwed0"] == 0 and p["tokensOwed1"] == 0 for p in positions), positions
    assert [p["liquidity"] > 0 for p in positions] == [True], positions  # one live position, no empty NFT


REBALANCE_STEPS = 9  # approve, approve, decreaseLiquidity, collect, burn, exactInputSingle, approve, approve, mint


@pytest.mark.parametrize("cut_after", [3, 4, 5, 6])  # after decreaseLiquidity, collect, burn, the swap
def test_a_rebalance_cut_short_at_any_step_is_finished_from_the_chain_on_restart(
    fresh, tmp_path, monkeypatch, cut_after
):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    first = _open_position(market)
    _push_pool(market)
    _oracle_follows_the_pool(market)
    latest = _nonce(market)
    kill = tmp_path / "KILL"
    _run_until_cut(LiveAdapter(_config(anvil, addresses, tmp_path, send=True)), market, kill, cut_after)
    assert Journal(tmp_path / "journal.sqlite").decisions()[0]["outcome"] == "interrupted"
    kill.unlink()

    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()  # restarted
    _owed_nothing_and_one_position(market)
    npm = market.v3.position_manager
    assert npm.call("tokenOfOwnerByIndex", AGENT, 0) != first
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    assert all(tx["status"] == "mined" for tx in sent)
    assert [tx["nonce"] for tx in sent] == list(range(latest, latest + len(sent)))  # each nonce once, in order
    assert _nonce(market) == latest + len(sent)
    assert len(sent) <= 2 * REBALANCE_STEPS


def _deploy_killed_at(anvil, addresses, market: Market, tmp_path: Path, function: str, *extra: str) -> None:
    """Run deploy.py (sending) with automine off, mining a block per transaction, and SIGKILL it as soon as
    it has journaled its first ``function`` transaction; that one is dropped from the mempool, so the chain
    holds the plan's earlier steps and nothing of this one."""
    import os
    import signal
    import subprocess
    import sys

    rpc, journal_path = market.chain.rpc, tmp_path / "journal.sqlite"
    rpc.request("evm_setAutomine", [False])
    env = dict(os.environ, DEFIGYM_PRIVATE_KEY=AGENT_KEY)
    proc = subprocess.Popen(
        [
            sys.executable,
            "deploy.py",
            f"live.rpc_urls=[{anvil.url}]",
            f"live.addresses={addresses}",
            "live.send=true",
            "live.max_decisions=1",
            f"live.journal={journal_path}",
            "live.poll_seconds=0.05",
            "live.receipt_timeout_s=600",
            f"hydra.run.dir={tmp_path / 'run'}",
            *extra,
        ],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sent = Journal(journal_path).transactions() if journal_path.is_file() else []
            if sent and sent[-1]["function"].split("(")[0] == function:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                rpc.request("anvil_dropTransaction", [sent[-1]["hash"]])  # it never reached a block
                return
            if sent and sent[-1]["status"] == "sent":
                rpc.request("evm_mine")
            time.sleep(0.05)
        raise AssertionError(f"the adapter never reached {function}")
    finally:
        proc.kill()
        rpc.request("evm_setAutomine", [True])


@pytest.mark.parametrize("kill_at", ["decreaseLiquidity", "collect", "burn", "exactInputSingle", "mint"])
def test_sigkill_at_any_step_of_a_rebalance_leaves_no_tokens_owed(fresh, tmp_path, monkeypatch, kill_at):
    """deploy.py killed (SIGKILL) while each step of a rebalance was on its way (the reported case: after
    decreaseLiquidity was mined and before collect reached the node). The restarted adapter settles the
    journal (a step the node never got is sent again, byte for byte), collects and burns whatever position
    was left empty, and only then rebalances: no tokens owed, one position, every nonce once."""
    anvil, addresses, market = fresh
    first = _open_position(market)
    _push_pool(market)
    _oracle_follows_the_pool(market)
    usdc_before = market.tokens["USDC"].balance_of(AGENT)
    _deploy_killed_at(anvil, addresses, market, tmp_path, kill_at, "live.policy=baseline:recentering_lp")
    if kill_at == "collect":
        stranded = market.v3.position(first)
        assert stranded["liquidity"] == 0 and stranded["tokensOwed0"] > 0  # the state the report describes
        assert market.tokens["USDC"].balance_of(AGENT) == usdc_before

    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()  # restarted
    _owed_nothing_and_one_position(market)
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    assert all(tx["status"] == "mined" for tx in sent)
    assert sorted(tx["nonce"] for tx in sent) == list(range(sent[0]["nonce"], sent[0]["nonce"] + len(sent)))


@pytest.mark.parametrize("kill_at", ["exactInputSingle", "supply"])
def test_sigkill_in_a_lever_plan_leaves_nothing_borrowed_lying_in_the_wallet(fresh, tmp_path, monkeypatch, kill_at):
    anvil, addresses, market = fresh
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    for token in (usdc, weth):  # the wallet holds only what plans move
        token.contract.transact("transfer", WHALE, token.balance_of(AGENT), sender=AGENT)
    _supply_collateral(market)
    _deploy_killed_at(
        anvil,
        addresses,
        market,
        tmp_path,
        kill_at,
        "live.policy=baseline:hf_keeper",
        "live.guards.min_health_factor=1.05",
    )
    assert usdc.balance_of(AGENT) + weth.balance_of(AGENT) > 0 or kill_at == "supply"

    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    LiveAdapter(
        _config(anvil, addresses, tmp_path, send=True, policy="baseline:hf_keeper", guards={"min_health_factor": 1.05})
    ).run()  # restarted
    assert usdc.balance_of(AGENT) == 0 and weth.balance_of(AGENT) == 0
    assert market.aave.user_account_data(AGENT)["total_debt_base"] > 0
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    assert all(tx["status"] == "mined" for tx in sent) and len({tx["nonce"] for tx in sent}) == len(sent)


@pytest.mark.parametrize(
    "cut_function, start_ltv",
    [("borrow", 0.0), ("exactInputSingle", 0.0), ("withdraw", 0.75), ("exactInputSingle", 0.75)],
)
def test_a_lever_or_delever_cut_short_is_unwound_or_finished_on_restart(
    fresh, tmp_path, monkeypatch, cut_function, start_ltv
):
    """The borrower moves to 65% LTV; its plan is cut after the first borrow or its swap (levering up from
    no debt), or after the first withdraw or its swap (deleveraging from 75%). The restart repays with the
    borrowed USDC left in the wallet and supplies the WETH left in it: nothing a plan moved is left lying."""
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    for token in (usdc, weth):  # the wallet holds only what plans move
        token.contract.transact("transfer", WHALE, token.balance_of(AGENT), sender=AGENT)
    _supply_collateral(market)
    if start_ltv:
        market.aave.borrow(
            AGENT, usdc, int(market.aave.user_account_data(AGENT)["total_collateral_base"] * start_ltv / 100)
        )
        usdc.contract.transact("transfer", WHALE, usdc.balance_of(AGENT), sender=AGENT)
    policy = "baseline:hf_keeper"  # to 65% LTV, and back to it once the health factor leaves [1.12, 1.6]
    book = read_addresses(Path(addresses).parent)
    plan = plan_leverage(anvil.url, book, AGENT, 500, 0.65, GuardConfig(), _pool_usd(market))
    names = [a.function.split("(")[0] for a in plan.actions]
    cut_after = names.index(cut_function) + 1
    kill = tmp_path / "KILL"
    adapter = LiveAdapter(
        _config(anvil, addresses, tmp_path, send=True, policy=policy, guards={"min_health_factor": 1.05})
    )
    _run_until_cut(adapter, market, kill, cut_after)
    assert usdc.balance_of(AGENT) + weth.balance_of(AGENT) > 0  # the cut left tokens in the wallet
    kill.unlink()

    restarted = LiveAdapter(
        _config(
            anvil, addresses, tmp_path, send=True, policy=policy, guards={"min_health_factor": 1.05}, max_decisions=1
        )
    )
    restarted.connect()
    assert restarted.recover(restarted.chain.block_number()) is False
    assert usdc.balance_of(AGENT) == 0 and weth.balance_of(AGENT) == 0
    decisions = Journal(tmp_path / "journal.sqlite").decisions()
    assert decisions[0]["outcome"] == "recovered"
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    assert all(tx["status"] == "mined" for tx in sent) and len({tx["nonce"] for tx in sent}) == len(sent)
    assert json.loads(decisions[-1]["action"]) == {"recover": [decisions[0]["id"]]}
