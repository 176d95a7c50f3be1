"""The decision loop: every N blocks read the chain, build the observation with the role's own code
(the LP's, or the borrower's), ask the policy, plan on a fork, guard, and (only when sending is on)
sign, send and journal."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.live.guards import GuardConfig, check, kill_switch
from agents.live.journal import Journal
from agents.live.keys import load_signer
from agents.live.pilots import BorrowerPilot, LPPilot
from agents.live.planner import Plan
from envs.backends.chain import ChainError, TransactionReverted
from envs.backends.rpc import RpcChain, RpcError
from envs.roles.borrower import DEFAULT_TARGETS, Borrower
from envs.roles.liquidity_provider import DEFAULT_HALF_WIDTHS, LiquidityProvider

log = logging.getLogger("defigym.live")


class WrongChainError(ChainError):
    """The node is on another chain than the config names: never retried."""
BLOCK_SECONDS = 12


@dataclass
class LiveConfig:
    rpc_urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8545"])  # tried in order (failover)
    chain_id: int = 31337  # refuse any other chain
    addresses: str = "runs/localnet/addresses.json"  # the market's contracts (python -m envs.chain build-localnet)
    policy: str = "baseline:passive_lp"  # an export's manifest.json, or baseline:<name> (an LP's or a borrower's)
    fee_pips: int = 500
    every_blocks: int = 1  # decide once per this many blocks
    max_decisions: int | None = None  # stop after this many (None: run until interrupted)
    send: bool = False  # dry run unless true: plans and simulations are journaled, nothing is signed
    account: str | None = None  # whose position to read in a dry run without a key
    key_env: str = "DEFIGYM_PRIVATE_KEY"
    keystore: str | None = None
    keystore_password_env: str = "DEFIGYM_KEYSTORE_PASSWORD"
    journal: str = "runs/live/journal.sqlite"
    poll_seconds: float = 1.0
    rpc_retries: int = 3  # per URL, with exponential backoff, before failing over
    reconnect_timeout_s: float = 300.0  # how long to wait for a node that went away mid-run before giving up
    receipt_timeout_s: float = 120.0  # a transaction not mined by then is stuck: replaced or cancelled
    gas_bump: float = 1.25  # a replacement's gas price, as a multiple of the stuck one's
    max_replacements: int = 3
    guards: GuardConfig = field(default_factory=GuardConfig)


class LiveAdapter:
    def __init__(self, cfg: LiveConfig):
        self.cfg = cfg
        self.addresses = _read_addresses(cfg.addresses)
        self.signer = load_signer(cfg.key_env, cfg.keystore, cfg.keystore_password_env) if cfg.send else None
        self.account = self.signer.address if self.signer else cfg.account
        if self.account is None:
            try:
                self.account = load_signer(cfg.key_env, cfg.keystore, cfg.keystore_password_env).address
            except ValueError:
                raise ValueError("a dry run needs live.account (the address whose position to read) or a key") from None
        self.policy, self.pilot = _load_policy(cfg.policy)
        self.journal = Journal(cfg.journal)
        self.url, self.chain = None, None
        log.info("account %s, %s, journal %s", self.account, "SENDING" if cfg.send else "dry run", cfg.journal)

    # --- connection ------------------------------------------------------------------------
    def connect(self) -> RpcChain:
        """The first RPC URL that answers (with retries and backoff), on the configured chain."""
        failures = []
        for url in self.cfg.rpc_urls:
            for attempt in range(self.cfg.rpc_retries):
                try:
                    chain = RpcChain(url, timeout=10.0)
                except (ChainError, ValueError) as err:
                    failures.append(f"{url}: {err}")
                    time.sleep(min(0.2 * 2**attempt, 5.0))
                    continue
                if chain.chain_id != self.cfg.chain_id:
                    raise WrongChainError(f"{url} is chain id {chain.chain_id}, but live.chain_id is {self.cfg.chain_id}: "
                                     f"refusing to act on the wrong chain")
                self.url, self.chain = url, chain
                return chain
        raise ChainError("no RPC URL answered: " + "; ".join(failures[-3:]))

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> None:
        self.connect()
        decisions, last_block = 0, None
        while self.cfg.max_decisions is None or decisions < self.cfg.max_decisions:
            try:
                block = self.chain.block_number()
                if last_block is None or block >= last_block + self.cfg.every_blocks:
                    self.decide(block, decisions)
                    decisions, last_block = decisions + 1, block
                else:
                    time.sleep(self.cfg.poll_seconds)
            except WrongChainError:
                raise
            except ChainError as err:  # the node went away: back off, fail over, wait for one to answer, go on
                log.warning("RPC failure (%s); reconnecting", err)
                self.reconnect()

    def reconnect(self) -> None:
        """Connect to the first URL that answers, retrying until ``reconnect_timeout_s`` has passed."""
        deadline = time.monotonic() + self.cfg.reconnect_timeout_s
        while True:
            try:
                self.connect()
                log.info("reconnected to %s", self.url)
                return
            except WrongChainError:
                raise
            except ChainError as err:
                if time.monotonic() > deadline:
                    raise ChainError(f"no node answered for {self.cfg.reconnect_timeout_s:.0f} s: {err}") from err
                time.sleep(self.cfg.poll_seconds)

    def decide(self, block: int, index: int) -> None:
        if self.reconcile():
            self.journal.decision(block, [], None, [], "waiting", ["a transaction sent earlier is still pending"])
            return
        obs = self.pilot.observe(self.chain, self.addresses, self.account, self.cfg.fee_pips,
                                 self.cfg.every_blocks * BLOCK_SECONDS, index)
        action, _ = self.policy.predict(obs, deterministic=True)
        action_json = np.asarray(action).tolist()
        plan = self.pilot.plan(action, self.url, self.addresses, self.account, self.cfg.fee_pips,
                               self.cfg.guards.max_slippage)
        if plan is None or (not plan.actions and not plan.error):
            self.journal.decision(block, obs, action_json, [], "hold", [])
            return
        gas_price_gwei = int(self.chain.rpc.request("eth_gasPrice"), 16) / 1e9
        reasons = check(plan, self.cfg.guards, chain_id=self.chain.chain_id, expected_chain_id=self.cfg.chain_id,
                        gas_price_gwei=gas_price_gwei, notional_today_usd=self.journal.notional_since(86400),
                        sends_last_hour=self.journal.sends_since(3600), addresses=self.addresses, account=self.account)
        described = [step.describe() for step in plan.actions]
        if reasons:
            log.warning("blocked: %s", "; ".join(reasons))
            self.journal.decision(block, obs, action_json, described, "blocked", reasons)
        elif not self.cfg.send:
            log.info("dry run: would send %d transactions: %s", len(described), [d["function"] for d in described])
            self.journal.decision(block, obs, action_json, described, "dry-run", [])
        else:
            decision = self.journal.decision(block, obs, action_json, described, "sending", [])
            self.execute(decision, plan, gas_price_gwei)

    # --- sending ---------------------------------------------------------------------------
    def execute(self, decision: int, plan: Plan, gas_price_gwei: float) -> None:
        nonce = int(self.chain.rpc.request("eth_getTransactionCount", [self.account, "pending"]), 16)
        gas_price = int(gas_price_gwei * 1e9)
        for step in plan.actions:
            if (reason := kill_switch(self.cfg.guards)) is not None:
                log.warning("stopped mid-plan: %s", reason)
                return
            try:  # simulate against the live chain right before signing
                self.chain.call(step.tx.to, step.tx.data, self.account)
            except TransactionReverted as err:
                log.warning("skipping the rest of the plan: %s would revert (%s)", step.function, err.reason)
                self.journal.decision(self.chain.block_number(), [], None, [step.describe()], "reverted", [err.reason])
                return
            tx = {"nonce": nonce, "to": step.tx.to, "data": "0x" + step.tx.data.hex(), "value": step.tx.value,
                  "gas": self._gas_limit(step), "gasPrice": gas_price, "chainId": self.cfg.chain_id}
            receipt, cancelled = self._send_until_mined(decision, tx, step)
            if receipt is None:
                log.warning("nonce %d is still pending: waiting for it before anything new", nonce)
                return
            ok = int(receipt["status"], 16) == 1 and not cancelled
            if not ok:
                log.warning("%s %s; stopping the plan", step.function, "was cancelled" if cancelled else "failed on chain")
                return
            nonce += 1

    def _gas_limit(self, step) -> int:
        """The live node's estimate with a margin: the fork's figure can be low, since an in-process
        EVM keeps storage slots warm from one planned transaction to the next."""
        estimate = int(self.chain.rpc.request("eth_estimateGas", [{
            "from": self.account, "to": step.tx.to, "data": "0x" + step.tx.data.hex(), "value": hex(step.tx.value)}]), 16)
        return int(max(estimate, step.gas_used) * 1.25) + 20_000

    def _send_until_mined(self, decision: int, tx: dict, step) -> tuple[dict | None, bool]:
        """Send ``tx``; while it is stuck, replace it at ``gas_bump`` times the price within the gas cap,
        or else cancel it (a 0-value transfer to self at the cap). Returns (receipt, cancelled?)."""
        cap = int(self.cfg.guards.max_gas_price_gwei * 1e9)
        cancelled = False
        for attempt in range(self.cfg.max_replacements + 1):
            signed = self.signer.sign_transaction(tx)
            tx_hash = self.chain.rpc.request("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
            tx_id = self.journal.sent(decision, tx["nonce"], tx_hash, tx["to"], "cancel" if cancelled else step.function,
                                      0.0 if cancelled else step.notional_usd)
            receipt = self._wait(tx_hash)
            if receipt is not None:
                self.journal.settle(tx_id, "mined" if int(receipt["status"], 16) == 1 else "failed",
                                    {"block": int(receipt["blockNumber"], 16), "gas_used": int(receipt["gasUsed"], 16),
                                     "gas_price": tx["gasPrice"]})
                return receipt, cancelled
            self.journal.settle(tx_id, "replaced", {"gas_price": tx["gasPrice"]})
            bumped = int(tx["gasPrice"] * self.cfg.gas_bump)
            if bumped <= cap:
                log.warning("nonce %d stuck at %.2f gwei: replacing at %.2f gwei", tx["nonce"], tx["gasPrice"] / 1e9,
                            bumped / 1e9)
                tx = dict(tx, gasPrice=bumped)
            elif not cancelled and cap > tx["gasPrice"]:
                log.warning("nonce %d stuck and a replacement would pass the gas cap: cancelling it", tx["nonce"])
                tx = {"nonce": tx["nonce"], "to": self.account, "data": "0x", "value": 0, "gas": 21_000,
                      "gasPrice": cap, "chainId": tx["chainId"]}
                cancelled = True
            else:
                break
        return None, cancelled

    def _wait(self, tx_hash: str) -> dict | None:
        deadline = time.monotonic() + self.cfg.receipt_timeout_s
        while time.monotonic() < deadline:
            receipt = self.chain.rpc.request("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return receipt
            time.sleep(0.05)
        return None

    def reconcile(self) -> bool:
        """Settle journaled transactions from an earlier run; True while one is still pending (nothing
        new is sent then, so a restart never sends a duplicate)."""
        chain_nonce = int(self.chain.rpc.request("eth_getTransactionCount", [self.account, "latest"]), 16)
        waiting = False
        for tx_id, nonce, tx_hash in self.journal.pending():
            try:
                receipt = self.chain.rpc.request("eth_getTransactionReceipt", [tx_hash])
            except RpcError:
                receipt = None
            if receipt is not None:
                ok = int(receipt["status"], 16) == 1
                self.journal.settle(tx_id, "mined" if ok else "failed", {"block": int(receipt["blockNumber"], 16)})
            elif nonce < chain_nonce:
                self.journal.settle(tx_id, "replaced", None)  # its nonce was used by another transaction
            else:
                waiting = True
        return waiting


def _read_addresses(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"live.addresses: {p} does not exist (build-localnet writes one for the local mainnet)")
    return json.loads(p.read_text())


def _load_policy(spec: str):
    """(policy, pilot) from an export's manifest or a baseline name: the LP or the borrower."""
    if spec.startswith("baseline:"):
        from agents.baselines import BASELINES, make_baseline

        name = spec.split(":", 1)[1]
        if BASELINES.get(name) is not None and BASELINES[name].role is Borrower:
            role = Borrower(DEFAULT_TARGETS)
            return make_baseline(name, role), BorrowerPilot(role)
        role = LiquidityProvider(DEFAULT_HALF_WIDTHS)
        return make_baseline(name, role), LPPilot(role, 720)
    from agents.onnx_policy import OnnxPolicy

    policy = OnnxPolicy(spec)
    env = policy.manifest.get("env_config") or {}
    if policy.manifest.get("role") == "borrower":
        return policy, BorrowerPilot(Borrower(tuple(env.get("targets", DEFAULT_TARGETS)),
                                              env.get("action_type", "discrete")))
    if policy.manifest.get("role", "liquidity_provider") != "liquidity_provider":
        raise ValueError(f"{spec} is a {policy.manifest['role']} policy; the live adapter runs the liquidity "
                         f"provider and the borrower")
    role = LiquidityProvider(tuple(env.get("half_widths", DEFAULT_HALF_WIDTHS)), env.get("action_type", "discrete"),
                             allow_close=bool(env.get("allow_close", False)))
    return policy, LPPilot(role, int(env.get("horizon", 720)))

