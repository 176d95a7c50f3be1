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

from agents.live.guards import GuardConfig, MarketState, check, kill_switch
from agents.live.journal import Journal
from agents.live.keys import load_signer
from agents.live.market import LiveUniswapV3Market, read_market_state
from agents.live.pilots import BorrowerPilot, LPPilot
from agents.live.planner import Plan, plan_recovery
from agents.live.validation import LiveConfigError, validate
from envs.evm.chain import ChainError, TransactionReverted
from envs.evm.rpc import RpcChain, RpcError
from envs.roles.borrower import DEFAULT_TARGETS, Borrower
from envs.roles.liquidity_provider import DEFAULT_HALF_WIDTHS, LiquidityProvider
from envs.worlds.lending import AAVE_V3

log = logging.getLogger("defigym.live")


class WrongChainError(ChainError):
    """The node is on another chain than the config names: never retried."""


BLOCK_SECONDS = 12


@dataclass
class LiveConfig:
    rpc_urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8545"])  # tried in order (failover)
    chain_id: int = 31337  # refuse any other chain
    addresses: str = "runs/localnet/addresses.json"  # the market's contracts (python -m envs.contracts build-localnet)
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


class LiveStop(ChainError):
    """The adapter stops: an error that retrying would only repeat (a refused request, a node that stayed away)."""


class LiveAdapter:
    def __init__(self, cfg: LiveConfig):
        validate(cfg)  # before any key is read or any node contacted
        self.cfg = cfg
        self.addresses = _read_addresses(cfg.addresses)
        self.signer = load_signer(cfg.key_env, cfg.keystore, cfg.keystore_password_env) if cfg.send else None
        if self.signer and cfg.account and cfg.account.lower() != self.signer.address.lower():
            raise LiveConfigError(f"live.account {cfg.account} is not the signing key's address {self.signer.address}")
        account = self.signer.address if self.signer else cfg.account
        if account is None:
            try:
                account = load_signer(cfg.key_env, cfg.keystore, cfg.keystore_password_env).address
            except ValueError:
                raise ValueError("a dry run needs live.account (the address whose position to read) or a key") from None
        self.account: str = account
        self.policy, self.pilot = _load_policy(cfg.policy)
        self.journal = Journal(cfg.journal)
        self.url: str  # both set by connect(), which run() calls first
        self.chain: RpcChain
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
                    raise WrongChainError(
                        f"{url} is chain id {chain.chain_id}, but live.chain_id is {self.cfg.chain_id}: "
                        f"refusing to act on the wrong chain"
                    )
                self.url, self.chain = url, chain
                return chain
        raise ChainError("no RPC URL answered: " + "; ".join(failures[-3:]))

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> None:
        """Decide every ``every_blocks`` blocks. Only a node that cannot be reached (or is briefly busy) is
        waited for and failed over; a request the node refuses stops the adapter with the node's answer."""
        self.connect()
        decisions, last_block, failing_since, failures = 0, None, None, 0
        while self.cfg.max_decisions is None or decisions < self.cfg.max_decisions:
            try:
                block = self.chain.block_number()
                if last_block is None or block >= last_block + self.cfg.every_blocks:
                    self.decide(block, decisions)
                    decisions, last_block = decisions + 1, block
                else:
                    time.sleep(self.cfg.poll_seconds)
                failing_since, failures = None, 0
            except WrongChainError:
                raise
            except RpcError as err:
                if not err.transient:
                    raise LiveStop(
                        f"the node at {self.url} refused a request ({err}); retrying would not help. "
                        f"Check live.account, live.addresses and live.chain_id against this node."
                    ) from err
                failing_since, failures = self._back_off(err, failing_since, failures)
            except ChainError as err:  # the node went away: back off, fail over, wait for one to answer, go on
                failing_since, failures = self._back_off(err, failing_since, failures)
                self.reconnect(failing_since)

    def _back_off(self, err: ChainError, since: float | None, failures: int) -> tuple[float, int]:
        """Wait before trying again, longer each time; give up once failing has lasted ``reconnect_timeout_s``."""
        since = time.monotonic() if since is None else since
        if time.monotonic() - since > self.cfg.reconnect_timeout_s:
            raise LiveStop(f"the node kept failing for {self.cfg.reconnect_timeout_s:.0f} s: {err}") from err
        log.warning("RPC failure (%s); trying again", err)
        time.sleep(min(self.cfg.poll_seconds * 2**failures, 30.0))
        return since, failures + 1

    def reconnect(self, since: float | None = None) -> None:
        """Connect to the first URL that answers, retrying until ``reconnect_timeout_s`` after ``since``."""
        deadline = (time.monotonic() if since is None else since) + self.cfg.reconnect_timeout_s
        while True:
            try:
                self.connect()
                log.info("reconnected to %s", self.url)
                return
            except WrongChainError:
                raise
            except ChainError as err:
                if time.monotonic() > deadline:
                    raise LiveStop(f"no node answered for {self.cfg.reconnect_timeout_s:.0f} s: {err}") from err
                time.sleep(self.cfg.poll_seconds)

    def decide(self, block: int, index: int) -> None:
        if self.reconcile():
            self.journal.decision(block, [], None, [], "waiting", ["a transaction sent earlier is still pending"])
            return
        if self.recover(block):
            return
        obs = self.pilot.observe(
            self.chain, self.addresses, self.account, self.cfg.fee_pips, self.cfg.every_blocks * BLOCK_SECONDS, index
        )
        action, _ = self.policy.predict(obs, deterministic=True)
        action_json = np.asarray(action).tolist()
        plan = self.pilot.plan(action, self.url, self.addresses, self.account, self.cfg.fee_pips, self.cfg.guards)
        if plan is None or (not plan.actions and not plan.error):
            self.journal.decision(block, obs, action_json, [], "hold", [])
            return
        self.submit(block, obs, action_json, plan)

    def recover(self, block: int) -> bool:
        """Finish what an earlier plan left half done before deciding anything new (tokens owed to an empty
        position, an empty NFT; a borrower's borrowed or withdrawn tokens left in the wallet). True when
        the adapter must not decide yet (the recovery was blocked, or is still being mined)."""
        unfinished = self.journal.unfinished()
        unwind = isinstance(self.pilot, BorrowerPilot) and bool(unfinished)
        left = (
            unwind or LiveUniswapV3Market(self.chain, self.addresses, self.account, self.cfg.fee_pips, 0.0).leftovers()
        )
        plan = (
            plan_recovery(
                self.url,
                self.addresses,
                self.account,
                self.cfg.fee_pips,
                self.cfg.guards,
                self.market_state().reference_usd,
                unwind_borrower=unwind,
            )
            if left
            else Plan()
        )
        if not plan.actions and not plan.error:
            for decision in unfinished:
                self.journal.finish(decision, "recovered")
            return False
        log.warning(
            "recovering what an earlier plan left half done: %s", [a.function.split("(")[0] for a in plan.actions]
        )
        outcome = self.submit(block, [], {"recover": unfinished}, plan)
        if outcome == "done":
            for decision in unfinished:
                self.journal.finish(decision, "recovered")
            return False
        return outcome != "dry-run"

    def market_state(self) -> MarketState:
        return read_market_state(
            self.chain, self.addresses, self.account, self.cfg.fee_pips, self.cfg.guards.twap_window_s
        )

    def submit(self, block: int, obs, action_json, plan: Plan) -> str:
        """Guard the plan, journal it, and send it when sending is on; returns the outcome: blocked, dry-run,
        done, interrupted or pending."""
        gas_price_gwei = int(self.chain.rpc.request("eth_gasPrice"), 16) / 1e9
        reasons = check(
            plan,
            self.cfg.guards,
            chain_id=self.chain.chain_id,
            expected_chain_id=self.cfg.chain_id,
            gas_price_gwei=gas_price_gwei,
            notional_today_usd=self.journal.notional_since(86400),
            sends_last_hour=self.journal.sends_since(3600),
            addresses=self.addresses,
            account=self.account,
            market=self.market_state(),
        )
        described = [step.describe() for step in plan.actions]
        if reasons:
            log.warning("blocked: %s", "; ".join(reasons))
            self.journal.decision(block, obs, action_json, described, "blocked", reasons)
            return "blocked"
        if not self.cfg.send:
            log.info("dry run: would send %d transactions: %s", len(described), [d["function"] for d in described])
            self.journal.decision(block, obs, action_json, described, "dry-run", [])
            return "dry-run"
        decision = self.journal.decision(block, obs, action_json, described, "sending", [])
        outcome = self.execute(decision, plan, gas_price_gwei)
        if outcome != "pending":  # a pending plan stays "sending" until its transaction is settled
            self.journal.finish(decision, outcome)
        return outcome

    # --- sending ---------------------------------------------------------------------------
    def execute(self, decision: int, plan: Plan, gas_price_gwei: float) -> str:
        """Send the plan's transactions in order, each once the one before is mined: done, interrupted or pending."""
        nonce = int(self.chain.rpc.request("eth_getTransactionCount", [self.account, "pending"]), 16)
        gas_price = int(gas_price_gwei * 1e9)
        for step in plan.actions:
            if (reason := kill_switch(self.cfg.guards)) is not None:
                log.warning("stopped mid-plan: %s", reason)
                return "interrupted"
            try:  # simulate against the live chain right before signing
                self.chain.call(step.tx.to, step.tx.data, self.account)
            except TransactionReverted as err:
                log.warning("skipping the rest of the plan: %s would revert (%s)", step.function, err.reason)
                self.journal.decision(self.chain.block_number(), [], None, [step.describe()], "reverted", [err.reason])
                return "interrupted"
            tx = {
                "nonce": nonce,
                "to": step.tx.to,
                "data": "0x" + step.tx.data.hex(),
                "value": step.tx.value,
                "gas": self._gas_limit(step),
                "gasPrice": gas_price,
                "chainId": self.cfg.chain_id,
            }
            receipt, cancelled = self._send_until_mined(decision, tx, step)
            if receipt is None:
                log.warning("nonce %d is still pending: waiting for it before anything new", nonce)
                return "pending"
            ok = int(receipt["status"], 16) == 1 and not cancelled
            if not ok:
                log.warning(
                    "%s %s; stopping the plan", step.function, "was cancelled" if cancelled else "failed on chain"
                )
                return "interrupted"
            nonce += 1
        return "done"

    def _gas_limit(self, step) -> int:
        """The live node's estimate with a margin: the fork's figure can be low, since an in-process
        EVM keeps storage slots warm from one planned transaction to the next."""
        estimate = int(
            self.chain.rpc.request(
                "eth_estimateGas",
                [
                    {
                        "from": self.account,
                        "to": step.tx.to,
                        "data": "0x" + step.tx.data.hex(),
                        "value": hex(step.tx.value),
                    }
                ],
            ),
            16,
        )
        return int(max(estimate, step.gas_used) * 1.25) + 20_000

    def _send_until_mined(self, decision: int, tx: dict, step) -> tuple[dict | None, bool]:
        """Send ``tx``; while it is stuck, replace it at ``gas_bump`` times the price within the gas cap,
        or else cancel it (a 0-value transfer to self at the cap). Every version is journaled before it
        is sent and stays 'sent' until one of them is mined: only then are the others 'replaced'.
        Returns (receipt of the mined one, was it the cancellation?), or (None, _) while none is mined."""
        cap = int(self.cfg.guards.max_gas_price_gwei * 1e9)
        cancelled = False
        versions: list[tuple[int, str, bool]] = []  # (journal id, hash, is the cancellation)
        for _attempt in range(self.cfg.max_replacements + 1):
            assert self.signer is not None, "sending needs a key (live.send loads one)"
            signed = self.signer.sign_transaction(tx)
            tx_hash, raw = "0x" + bytes(signed.hash).hex(), "0x" + bytes(signed.raw_transaction).hex()
            tx_id = self.journal.sent(
                decision,
                tx["nonce"],
                tx_hash,
                tx["to"],
                "cancel" if cancelled else step.function,
                0.0 if cancelled else step.notional_usd,
                raw,
            )
            versions.append((tx_id, tx_hash, cancelled))
            self.chain.rpc.request("eth_sendRawTransaction", [raw])
            mined = self._wait([h for _, h, _ in versions])
            if mined is not None:
                receipt = mined[1]
                self._settle_nonce([(i, h) for i, h, _ in versions], mined)
                return receipt, next(c for _, h, c in versions if h == mined[0])
            bumped = int(tx["gasPrice"] * self.cfg.gas_bump)
            if bumped <= cap:
                log.warning(
                    "nonce %d stuck at %.2f gwei: replacing at %.2f gwei",
                    tx["nonce"],
                    tx["gasPrice"] / 1e9,
                    bumped / 1e9,
                )
                tx = dict(tx, gasPrice=bumped)
            elif not cancelled and cap > tx["gasPrice"]:
                log.warning("nonce %d stuck and a replacement would pass the gas cap: cancelling it", tx["nonce"])
                tx = {
                    "nonce": tx["nonce"],
                    "to": self.account,
                    "data": "0x",
                    "value": 0,
                    "gas": 21_000,
                    "gasPrice": cap,
                    "chainId": tx["chainId"],
                }
                cancelled = True
            else:
                break
        return None, cancelled

    def _receipt(self, tx_hash: str) -> dict | None:
        try:
            return self.chain.rpc.request("eth_getTransactionReceipt", [tx_hash])
        except RpcError:
            return None

    def _wait(self, hashes: list[str]) -> tuple[str, dict] | None:
        """(hash, receipt) of whichever of ``hashes`` (versions of one nonce) is mined within ``receipt_timeout_s``."""
        deadline = time.monotonic() + self.cfg.receipt_timeout_s
        while time.monotonic() < deadline:
            for tx_hash in hashes:
                if (receipt := self._receipt(tx_hash)) is not None:
                    return tx_hash, receipt
            time.sleep(0.05)
        return None

    def _settle_nonce(self, versions: list[tuple[int, str]], mined: tuple[str, dict]) -> None:
        """Journal the mined version of a nonce as mined (or failed) and every other version as replaced."""
        tx_hash, receipt = mined
        for tx_id, h in versions:
            if h == tx_hash:
                self.journal.settle(
                    tx_id,
                    "mined" if int(receipt["status"], 16) == 1 else "failed",
                    {"block": int(receipt["blockNumber"], 16), "gas_used": int(receipt["gasUsed"], 16)},
                )
            else:
                self.journal.settle(tx_id, "replaced", {"by": tx_hash})

    def reconcile(self) -> bool:
        """Settle journaled transactions from an earlier run; True while one is still pending (nothing
        new is sent then, so a restart never sends a duplicate). A version is 'replaced' only once another
        transaction of its nonce is mined; one the node has never seen (the process died before sending
        it) is sent again, byte for byte, so it cannot be doubled."""
        chain_nonce = int(self.chain.rpc.request("eth_getTransactionCount", [self.account, "latest"]), 16)
        by_nonce: dict[int, list[tuple[int, str, str | None]]] = {}
        for tx_id, nonce, tx_hash, raw in self.journal.pending():
            by_nonce.setdefault(nonce, []).append((tx_id, tx_hash, raw))
        waiting = False
        for nonce, versions in sorted(by_nonce.items()):
            mined = next(((h, r) for _, h, _ in versions if (r := self._receipt(h)) is not None), None)
            if mined is None and nonce >= chain_nonce:
                unknown = [
                    raw
                    for _, h, raw in versions
                    if raw and self.chain.rpc.request("eth_getTransactionByHash", [h]) is None
                ]
                if len(unknown) == len(versions):  # the node holds none of them: send the newest again
                    self._rebroadcast(unknown[-1])
                    mined = self._wait([h for _, h, _ in versions])
            if mined is not None:
                self._settle_nonce([(i, h) for i, h, _ in versions], mined)
            elif nonce < chain_nonce:  # another transaction of this nonce was mined
                for tx_id, _, _ in versions:
                    self.journal.settle(tx_id, "replaced", {"by": "a transaction outside the journal"})
            else:
                waiting = True
        return waiting

    def _rebroadcast(self, raw: str) -> None:
        try:
            self.chain.rpc.request("eth_sendRawTransaction", [raw])
            log.warning("re-sent a journaled transaction the node did not hold")
        except RpcError as err:  # e.g. nonce too low: settled by the nonce check on the next pass
            log.warning("could not re-send a journaled transaction: %s", err)


def _read_addresses(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"live.addresses: {p} does not exist (build-localnet writes one for the local mainnet)")
    return json.loads(p.read_text())


AAVE_LEVERAGE = "defigym/AaveLeverage-v0"  # the env whose borrower the live adapter runs


def _load_policy(spec: str):
    """(policy, pilot) from an export's manifest or a baseline name: the LP or the borrower."""
    if spec.startswith("baseline:"):
        from agents.baselines import BASELINES, make_baseline

        name = spec.split(":", 1)[1]
        if getattr(BASELINES.get(name), "role", None) is Borrower:
            borrower = Borrower(DEFAULT_TARGETS)
            return make_baseline(name, borrower), BorrowerPilot(borrower)
        provider = LiquidityProvider(DEFAULT_HALF_WIDTHS)
        return make_baseline(name, provider), LPPilot(provider, 720)
    from agents.onnx_policy import OnnxPolicy

    policy = OnnxPolicy(spec)
    env = policy.manifest.get("env_config") or {}
    if policy.manifest.get("role") == "borrower":
        world, env_id = policy.manifest.get("world") or {}, policy.manifest.get("env_id")
        protocol = world.get("lending") or (env.get("lending") or {}).get("protocol", AAVE_V3)
        if protocol != AAVE_V3 or env_id not in (None, AAVE_LEVERAGE):
            raise ValueError(
                f"{spec} is a borrower trained on {env_id} (lending.protocol={protocol}); the live adapter runs a "
                f"borrower on Aave V3 only: export one trained on {AAVE_LEVERAGE}"
            )
        return policy, BorrowerPilot(
            Borrower(tuple(env.get("targets", DEFAULT_TARGETS)), env.get("action_type", "discrete"))
        )
    if policy.manifest.get("role", "liquidity_provider") != "liquidity_provider":
        raise ValueError(
            f"{spec} is a {policy.manifest['role']} policy; the live adapter runs the liquidity "
            f"provider and the borrower"
        )
    provider = LiquidityProvider(
        tuple(env.get("half_widths", DEFAULT_HALF_WIDTHS)),
        env.get("action_type", "discrete"),
        allow_close=bool(env.get("allow_close", False)),
    )
    return policy, LPPilot(provider, int(env.get("horizon", 720)))
