"""The live adapter against a real anvil serving the local mainnet: dry runs, guards, live sends, restarts, errors."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from agents.live.adapter import LiveAdapter, LiveConfig
from agents.live.guards import GuardConfig
from agents.live.journal import Journal
from agents.live.keys import SigningKeyError
from agents.onnx_policy import ManifestError
from envs.contracts.market import Market
from envs.evm.anvil import free_port
from envs.evm.chain import ChainError
from envs.evm.rpc import RpcChain
from tests.local_mainnet import AGENT, AGENT_KEY, WHALE


def _config(anvil, addresses, tmp_path, **changes) -> LiveConfig:
    guards = dataclasses.replace(GuardConfig(kill_switch_file=str(tmp_path / "KILL")), **changes.pop("guards", {}))
    config = LiveConfig(
        rpc_urls=[anvil.url],
        addresses=str(addresses),
        policy="baseline:recentering_lp",
        account=AGENT,
        max_decisions=1,
        journal=str(tmp_path / "journal.sqlite"),
        poll_seconds=0.05,
        guards=guards,
    )
    return dataclasses.replace(config, **changes)


def _pool_usd(market: Market) -> float:
    """ETH in USD at the 0.05% pool's price (USDC is token0)."""
    sqrt_price = market.v3_pools[500].call("slot0")[0] / 2**96
    return 10**12 / sqrt_price**2


def _oracle_follows_the_pool(market: Market) -> None:
    market.aave.set_price("WETH", int(_pool_usd(market) * 1e8))


def _pool_follows_the_oracle(market: Market) -> None:
    """A whale sells WETH into the 0.05% pool until its price is the oracle's (a swap with a price limit)."""
    weth, usdc = market.tokens["WETH"], market.tokens["USDC"]
    target = market.aave.price(weth) / 1e8
    weth.mint(WHALE, 100_000 * 10**18)
    weth.approve(WHALE, market.v3.router.address)
    limit = int((10**12 / target) ** 0.5 * 2**96)
    market.v3.exact_input_single(WHALE, weth, usdc, 500, 100_000 * 10**18, 0, limit)
    assert abs(_pool_usd(market) / target - 1) < 1e-4


def _nonce(market: Market) -> int:
    return int(market.chain.rpc.request("eth_getTransactionCount", [AGENT, "latest"]), 16)


def test_dry_run_sends_nothing_and_journals_the_plan(fresh, tmp_path):
    anvil, addresses, market = fresh
    before = _nonce(market)
    LiveAdapter(_config(anvil, addresses, tmp_path)).run()
    assert _nonce(market) == before
    (decision,) = Journal(tmp_path / "journal.sqlite").decisions()
    assert decision["outcome"] == "dry-run"
    functions = [step["function"].split("(")[0] for step in __import__("json").loads(decision["plan"])]
    assert "exactInputSingle" in functions and functions[-1] == "mint"
    assert Journal(tmp_path / "journal.sqlite").transactions() == []


@pytest.mark.parametrize(
    "guards, reason",
    [
        ({"max_notional_usd_per_tx": 10.0}, "per-transaction cap"),
        ({"max_notional_usd_per_day": 10.0}, "daily notional"),
        ({"max_gas_price_gwei": 0.0}, "gas price"),
        ({"max_sends_per_hour": 0}, "rate limit"),
        ({"allowed_contracts": ("NonfungiblePositionManager", "MintableERC20")}, "SwapRouter.exactInputSingle"),
    ],
)
def test_each_guard_blocks_what_it_must_with_the_reason_journaled(fresh, tmp_path, monkeypatch, guards, reason):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    before = _nonce(market)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True, guards=guards)).run()
    assert _nonce(market) == before
    (decision,) = Journal(tmp_path / "journal.sqlite").decisions()
    assert decision["outcome"] == "blocked" and reason in decision["reasons"]


def test_the_kill_switch_stops_all_sending(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    (tmp_path / "KILL").write_text("")
    before = _nonce(market)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    assert _nonce(market) == before
    assert "kill switch" in Journal(tmp_path / "journal.sqlite").decisions()[0]["reasons"]


def test_a_live_run_opens_a_position_and_a_restarted_adapter_rebalances_it(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    npm, pool = market.v3.position_manager, market.v3_pools[500]
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    assert npm.call("balanceOf", AGENT) == 1  # read from the chain, not from the adapter
    first = npm.call("tokenOfOwnerByIndex", AGENT, 0)
    opened = market.v3.position(first)
    tick = pool.call("slot0")[1]
    assert opened["liquidity"] > 0 and opened["tickLower"] <= tick < opened["tickUpper"]

    usdc = market.tokens["USDC"]  # push the price far out of the range
    usdc.mint(WHALE, 8_000_000 * 10**6)
    usdc.approve(WHALE, market.v3.router.address)
    market.v3.exact_input_single(WHALE, usdc, market.tokens["WETH"], 500, 8_000_000 * 10**6)
    assert not opened["tickLower"] <= pool.call("slot0")[1] < opened["tickUpper"]
    _oracle_follows_the_pool(market)  # the market moved, not just the pool: the guards let the LP act

    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()  # a new process, the same journal
    assert npm.call("balanceOf", AGENT) == 1
    second = npm.call("tokenOfOwnerByIndex", AGENT, 0)
    assert second != first
    moved = market.v3.position(second)
    assert moved["tickLower"] <= pool.call("slot0")[1] < moved["tickUpper"]
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    assert sent and all(tx["status"] == "mined" for tx in sent)
    assert len({tx["nonce"] for tx in sent}) == len(sent)  # no nonce used twice


def test_a_restart_with_a_pending_transaction_waits_instead_of_sending(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    journal = Journal(tmp_path / "journal.sqlite")
    decision = journal.decision(0, [], None, [], "sending", [])
    journal.sent(decision, _nonce(market), "0x" + "ab" * 32, market.v3.router.address, "exactInputSingle", 1.0)
    before = _nonce(market)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    assert _nonce(market) == before
    assert Journal(tmp_path / "journal.sqlite").decisions()[-1]["outcome"] == "waiting"


def test_fails_over_to_the_next_rpc_url(fresh, tmp_path):
    anvil, addresses, market = fresh
    config = _config(anvil, addresses, tmp_path)
    config.rpc_urls = [f"http://127.0.0.1:{free_port()}", anvil.url]
    config.rpc_retries = 1
    LiveAdapter(config).run()
    assert Journal(tmp_path / "journal.sqlite").decisions()[0]["outcome"] == "dry-run"


def test_wrong_chain_missing_key_and_malformed_manifest_are_clear_errors(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    before = _nonce(market)
    with pytest.raises(ChainError, match="chain id 31337.*refusing"):
        LiveAdapter(_config(anvil, addresses, tmp_path, chain_id=1)).run()
    monkeypatch.delenv("DEFIGYM_PRIVATE_KEY", raising=False)
    with pytest.raises(SigningKeyError, match="no signing key"):
        LiveAdapter(_config(anvil, addresses, tmp_path, send=True))
    (tmp_path / "manifest.json").write_text('{"format": "defigym-policy/1"}')
    with pytest.raises(ManifestError, match="malformed"):
        LiveAdapter(_config(anvil, addresses, tmp_path, policy=str(tmp_path / "manifest.json")))
    assert _nonce(market) == before


def test_deploy_py_runs_an_exported_onnx_policy_dry(fresh, tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.export import export
    from agents.vec_env import SB3VecEnv
    from envs.uniswap_v3_lp import UniswapV3LPVectorEnv

    anvil, addresses, market = fresh
    env = VecNormalize(SB3VecEnv(UniswapV3LPVectorEnv(num_envs=8, horizon=24)))
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=64, seed=0, verbose=0)
    model.learn(256)
    model.save(tmp_path / "model.zip")
    env.save(str(tmp_path / "vecnormalize.pkl"))
    manifest = export(tmp_path / "model.zip", env_id="defigym/UniswapV3LP-v0")  # saved outside train.py: say what it is
    journal = tmp_path / "live.sqlite"
    result = subprocess.run(
        [
            sys.executable,
            "deploy.py",
            f"live.rpc_urls=[{anvil.url}]",
            f"live.addresses={addresses}",
            f"live.policy={manifest}",
            f"live.account={AGENT}",
            "live.max_decisions=1",
            f"live.journal={journal}",
            "live.poll_seconds=0.05",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = [d["outcome"] for d in Journal(journal).decisions()]
    assert len(outcomes) == 1 and outcomes[0] in {"hold", "dry-run", "blocked"}


def test_the_health_factor_guard_blocks_a_plan_that_leaves_the_account_near_liquidation(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    weth, usdc = market.tokens["WETH"], market.tokens["USDC"]
    weth.mint(AGENT, 10 * 10**18)
    market.aave.supply(AGENT, weth, 10 * 10**18)
    limit = market.aave.user_account_data(AGENT)["available_borrows_base"] * 10**6 // market.aave.price(usdc)
    market.aave.borrow(AGENT, usdc, limit * 95 // 100)  # health factor about 1.09
    before = _nonce(market)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    assert _nonce(market) == before
    (decision,) = Journal(tmp_path / "journal.sqlite").decisions()
    assert decision["outcome"] == "blocked" and "health factor" in decision["reasons"]


def test_a_key_comes_from_an_encrypted_keystore_and_is_never_shown(tmp_path, monkeypatch, capsys):
    import json

    from eth_account import Account

    from agents.live.keys import load_signer

    keystore = tmp_path / "key.json"
    keystore.write_text(json.dumps(Account.encrypt(AGENT_KEY, "correct horse")))
    monkeypatch.setenv("DEFIGYM_KEYSTORE_PASSWORD", "correct horse")
    assert load_signer(keystore=str(keystore)).address == AGENT
    monkeypatch.setenv("DEFIGYM_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(SigningKeyError, match="wrong password") as err:
        load_signer(keystore=str(keystore))
    assert AGENT_KEY[2:] not in str(err.value) + capsys.readouterr().out


def test_a_stuck_transaction_is_replaced_at_a_higher_gas_price_within_the_cap(fresh, tmp_path, monkeypatch):
    import threading
    import time

    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    rpc = market.chain.rpc
    rpc.request("evm_setAutomine", [False])
    stop = threading.Event()

    def miner():  # nothing is mined until the adapter has given up on its first send
        time.sleep(1.5)
        while not stop.is_set():
            rpc.request("evm_mine")
            time.sleep(0.2)

    thread = threading.Thread(target=miner)
    thread.start()
    try:
        config = _config(anvil, addresses, tmp_path, send=True, receipt_timeout_s=1.0)
        LiveAdapter(config).run()
    finally:
        stop.set()
        thread.join()
        rpc.request("evm_setAutomine", [True])
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    first_nonce = sent[0]["nonce"]
    statuses = [tx["status"] for tx in sent if tx["nonce"] == first_nonce]
    assert statuses[0] == "replaced" and statuses[-1] == "mined"
    mined = [tx for tx in sent if tx["status"] == "mined"]
    assert len({tx["nonce"] for tx in mined}) == len(mined)  # one transaction per nonce made it
    assert market.v3.position_manager.call("balanceOf", AGENT) == 1  # and the plan went through


def _account(market: Market) -> dict:
    """The agent's Aave account, read from the chain independently of the adapter."""
    data = market.aave.user_account_data(AGENT)
    data["ltv_now"] = data["total_debt_base"] / data["total_collateral_base"]
    return data


def test_a_live_run_levers_an_aave_position_and_deleverages_it_when_the_price_drops(fresh, tmp_path, monkeypatch):
    anvil, addresses, market = fresh
    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    weth = market.tokens["WETH"]
    weth.mint(AGENT, 10 * 10**18)
    market.aave.supply(AGENT, weth, 10 * 10**18)  # collateral, no debt yet
    keeper = _config(
        anvil, addresses, tmp_path, send=True, policy="baseline:hf_keeper", guards={"min_health_factor": 1.05}
    )
    LiveAdapter(keeper).run()
    levered = _account(market)
    assert levered["total_debt_base"] > 0 and 0.55 < levered["ltv_now"] < 0.7  # toward the keeper's 65% LTV

    price = market.aave.price(weth)
    market.aave.set_price("WETH", price * 85 // 100)  # the oracle falls 15%: health factor under the keeper's band
    _pool_follows_the_oracle(market)  # and the pool with it: arbitrage, or the guards refuse to trade
    dropped = _account(market)
    assert 1.0 < dropped["health_factor"] / 1e18 < 1.12

    LiveAdapter(keeper).run()  # a new process, the same journal
    after = _account(market)
    assert after["total_debt_base"] < dropped["total_debt_base"]  # it repaid ...
    assert after["health_factor"] > dropped["health_factor"] and after["ltv_now"] < 0.67  # ... back toward 65%
    sent = Journal(tmp_path / "journal.sqlite").transactions()
    functions = {tx["function"].split("(")[0] for tx in sent}
    assert {"borrow", "supply", "withdraw", "repay", "exactInputSingle"} <= functions
    assert all(tx["status"] == "mined" for tx in sent) and len({tx["nonce"] for tx in sent}) == len(sent)


def test_a_borrower_plan_acting_for_another_account_is_refused(fresh, tmp_path):
    from agents.live.guards import check
    from agents.live.market import read_market_state
    from agents.live.planner import plan_leverage
    from envs.contracts.localnet import read_addresses

    anvil, addresses, market = fresh
    weth = market.tokens["WETH"]
    weth.mint(AGENT, 10 * 10**18)
    market.aave.supply(AGENT, weth, 10 * 10**18)
    book = read_addresses(Path(addresses).parent)
    plan = plan_leverage(anvil.url, book, AGENT, 500, 0.5, GuardConfig(), market.aave.price(weth) / 1e8)
    assert plan.actions and not plan.error
    common = dict(
        chain_id=31337,
        expected_chain_id=31337,
        gas_price_gwei=1.0,
        notional_today_usd=0.0,
        sends_last_hour=0,
        addresses=book,
        market=read_market_state(market.chain, book, AGENT, 500, 600),
    )
    assert check(plan, GuardConfig(min_health_factor=1.05), account=AGENT, **common) == []
    reasons = check(plan, GuardConfig(min_health_factor=1.05), account=WHALE, **common)
    assert any("not this account" in r for r in reasons)


def test_killing_the_adapter_mid_plan_and_restarting_it_sends_no_duplicate(fresh, tmp_path, monkeypatch):
    """The adapter is killed (SIGKILL) while its first transaction waits to be mined; the restarted
    adapter settles it from the journal, plans the rest from the chain, and no nonce is used twice."""
    import os
    import signal
    import time

    anvil, addresses, market = fresh
    rpc = market.chain.rpc
    before = _nonce(market)
    journal_path = tmp_path / "journal.sqlite"
    rpc.request("evm_setAutomine", [False])
    env = dict(os.environ, DEFIGYM_PRIVATE_KEY=AGENT_KEY)
    proc = subprocess.Popen(
        [
            sys.executable,
            "deploy.py",
            f"live.rpc_urls=[{anvil.url}]",
            f"live.addresses={addresses}",
            "live.policy=baseline:recentering_lp",
            "live.send=true",
            "live.max_decisions=1",
            f"live.journal={journal_path}",
            "live.poll_seconds=0.05",
            "live.receipt_timeout_s=600",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (journal_path.is_file() and Journal(journal_path).transactions()):
            time.sleep(0.1)
        assert Journal(journal_path).transactions(), "the adapter never sent its first transaction"
        os.kill(proc.pid, signal.SIGKILL)  # mid-plan: one transaction out, the rest not yet
        proc.wait(timeout=30)
    finally:
        proc.kill()
        rpc.request("evm_setAutomine", [True])
    rpc.request("evm_mine")
    (first,) = Journal(journal_path).transactions()
    assert first["status"] == "sent"  # the killed process never saw its receipt

    monkeypatch.setenv("DEFIGYM_PRIVATE_KEY", AGENT_KEY)
    LiveAdapter(_config(anvil, addresses, tmp_path, send=True)).run()
    sent = Journal(journal_path).transactions()
    assert sent[0]["status"] == "mined" and all(tx["status"] == "mined" for tx in sent)
    assert [tx["nonce"] for tx in sent] == list(range(before, before + len(sent)))  # each nonce once, in order
    assert _nonce(market) == before + len(sent)  # nothing was sent outside the journal
    assert market.v3.position_manager.call("balanceOf", AGENT) == 1  # one position, not two


def _run_in_thread(adapter: LiveAdapter):
    import threading

    errors: list[BaseException] = []

    def target():
        try:
            adapter.run()
        except BaseException as err:  # noqa: BLE001  (reported by the test)
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def _mine_until(urls: list[str], done, seconds: float = 90.0) -> None:
    """Mine a block every 0.1 s on whichever node answers, so a dry-running adapter sees new blocks."""
    import time

    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        for url in urls:
            try:
                RpcChain(url, timeout=1.0).rpc.request("evm_mine")
            except (ChainError, ValueError):
                pass
        time.sleep(0.1)


def test_the_adapter_waits_for_a_node_that_stops_and_goes_on_when_it_is_back(node, tmp_path):
    import time

    from envs.contracts.localnet import serve_localnet

    _, addresses, _ = node
    state_dir = Path(addresses).parent
    port = free_port()
    first = serve_localnet(state_dir, port)
    journal = Journal(tmp_path / "journal.sqlite")
    config = _config(
        first, addresses, tmp_path, max_decisions=3, rpc_retries=1, reconnect_timeout_s=120.0, policy="baseline:hodl"
    )
    thread, errors = _run_in_thread(LiveAdapter(config))
    _mine_until([first.url], lambda: len(journal.decisions()) >= 1)
    first.stop()  # the node stops mid-run
    time.sleep(1.0)
    assert thread.is_alive() and not errors  # the adapter is waiting, not dead
    second = serve_localnet(state_dir, port)  # and comes back on the same URL
    try:
        _mine_until([second.url], lambda: not thread.is_alive())
        thread.join(timeout=30)
    finally:
        second.stop()
    assert not errors, errors
    assert [d["outcome"] for d in journal.decisions()] == ["hold"] * 3  # three decisions, across the outage


def test_with_two_rpc_urls_the_adapter_fails_over_when_one_node_dies(node, tmp_path):
    from envs.contracts.localnet import serve_localnet

    _, addresses, _ = node
    state_dir = Path(addresses).parent
    primary, backup = serve_localnet(state_dir), serve_localnet(state_dir)
    journal = Journal(tmp_path / "journal.sqlite")
    config = _config(
        primary, addresses, tmp_path, max_decisions=3, rpc_retries=1, reconnect_timeout_s=60.0, policy="baseline:hodl"
    )
    config.rpc_urls = [primary.url, backup.url]
    adapter = LiveAdapter(config)
    thread, errors = _run_in_thread(adapter)
    try:
        _mine_until([primary.url, backup.url], lambda: len(journal.decisions()) >= 1)
        assert adapter.url == primary.url
        primary.stop()
        _mine_until([backup.url], lambda: not thread.is_alive())
        thread.join(timeout=30)
    finally:
        primary.stop()
        backup.stop()
    assert not errors, errors
    assert adapter.url == backup.url and len(journal.decisions()) == 3


def test_an_exported_borrower_policy_runs_dry_through_the_borrower_role(fresh, tmp_path):
    import json

    import yaml
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.export import export
    from agents.vec_env import SB3VecEnv
    from envs.aave_leverage import AaveLeverageVectorEnv

    anvil, addresses, market = fresh
    weth = market.tokens["WETH"]
    weth.mint(AGENT, 10 * 10**18)
    market.aave.supply(AGENT, weth, 10 * 10**18)
    env = VecNormalize(SB3VecEnv(AaveLeverageVectorEnv(num_envs=4, horizon=12)))
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=64, seed=0, verbose=0)
    model.learn(64)
    model.save(tmp_path / "model.zip")
    env.save(str(tmp_path / "vecnormalize.pkl"))
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"env": {"id": "defigym/AaveLeverage-v0"}}))
    manifest = export(tmp_path / "model.zip")
    before = _nonce(market)
    adapter = LiveAdapter(_config(anvil, addresses, tmp_path, policy=str(manifest), max_decisions=2))
    thread, errors = _run_in_thread(adapter)
    _mine_until([anvil.url], lambda: not thread.is_alive())
    thread.join(timeout=30)
    assert not errors, errors
    assert _nonce(market) == before
    decisions = adapter.journal.decisions()
    assert len(decisions) == 2 and {d["outcome"] for d in decisions} <= {"hold", "dry-run", "blocked"}
    assert len(json.loads(decisions[0]["observation"])) == 8  # the borrower's observation, from the chain


def test_a_close_plan_withdraws_the_position_within_the_guards(fresh, tmp_path):
    from agents.live.guards import check
    from agents.live.market import read_market_state
    from agents.live.planner import plan_close
    from envs.contracts.localnet import read_addresses

    anvil, addresses, market = fresh
    usdc, weth = market.tokens["USDC"], market.tokens["WETH"]
    tick = market.v3_pools[500].call("slot0")[1] // 10 * 10
    market.v3.mint(AGENT, usdc, weth, 500, tick - 200, tick + 200, 20_000 * 10**6, 5 * 10**18)
    book = read_addresses(Path(addresses).parent)
    plan = plan_close(anvil.url, book, AGENT, 500, GuardConfig(), market.aave.price(weth) / 1e8)
    assert [a.function.split("(")[0] for a in plan.actions] == ["decreaseLiquidity", "collect", "burn"]
    assert (
        check(
            plan,
            GuardConfig(),
            chain_id=31337,
            expected_chain_id=31337,
            gas_price_gwei=1.0,
            notional_today_usd=0.0,
            sends_last_hour=0,
            addresses=book,
            account=AGENT,
            market=read_market_state(market.chain, book, AGENT, 500, 600),
        )
        == []
    )
    decrease = plan.actions[0].args[0]
    assert decrease[2] > 0 and decrease[3] > 0  # minimums from the simulation, not zero
