"""Uniswap V3 on an EVM rung: factory and pools (v3-core); position manager, SwapRouter, QuoterV2 and TickLens (v3-periphery)."""

from __future__ import annotations

from dataclasses import dataclass

from envs.contracts.accounts import DEPLOYER
from envs.contracts.contract import Contract, deploy
from envs.contracts.tokens import Token
from envs.evm.chain import DEADLINE, Chain, TxResult
from envs.units import MAX_TICK, MAX_UINT128, MIN_TICK
from envs.units import TICK_SPACING as TICK_SPACING  # the tier table, where the chain side reads it


@dataclass
class Position:
    token_id: int
    liquidity: int
    amount0: int
    amount1: int


@dataclass
class UniswapV3:
    factory: Contract
    position_manager: Contract
    router: Contract
    quoter: Contract
    tick_lens: Contract

    @property
    def chain(self) -> Chain:
        return self.factory.chain

    # --- pools ------------------------------------------------------------------------------
    def pool(self, token_a: Token, token_b: Token, fee: int) -> Contract:
        address = self.factory.call("getPool", token_a.address, token_b.address, fee)
        if int(address, 16) == 0:
            raise KeyError(f"no Uniswap V3 pool for {token_a.symbol}/{token_b.symbol} at fee {fee}")
        return Contract(self.chain, address, "UniswapV3Pool")

    def create_pool(self, token_a: Token, token_b: Token, fee: int, sqrt_price_x96: int) -> Contract:
        if fee == 100 and self.factory.call("feeAmountTickSpacing", 100) == 0:
            self.factory.transact(
                "enableFeeAmount", 100, 1, sender=DEPLOYER
            )  # the 1 bp tier (governance-enabled on mainnet)
        self.factory.transact("createPool", token_a.address, token_b.address, fee, sender=DEPLOYER)
        pool = self.pool(token_a, token_b, fee)
        pool.transact("initialize", sqrt_price_x96, sender=DEPLOYER)
        return pool

    def initialized_ticks(self, pool: Contract) -> dict[int, int]:
        """Every initialized tick of ``pool`` -> its liquidityNet, read word by word through TickLens."""
        spacing = pool.call("tickSpacing")
        ticks: dict[int, int] = {}
        lo, hi = (MIN_TICK // spacing) >> 8, (MAX_TICK // spacing) >> 8
        for word in range(lo, hi + 1):
            if pool.call("tickBitmap", word) == 0:
                continue
            for tick, net, _gross in self.tick_lens.call("getPopulatedTicksInWord", pool.address, word):
                ticks[tick] = net
        return dict(sorted(ticks.items()))

    # --- positions --------------------------------------------------------------------------
    def mint(
        self, owner: str, token0: Token, token1: Token, fee: int, tick_lower: int, tick_upper: int, raw0: int, raw1: int
    ) -> Position:
        """Open a position through the NonfungiblePositionManager (amounts are maxima; it takes what fits)."""
        npm = self.position_manager
        token0.approve(owner, npm.address)
        token1.approve(owner, npm.address)
        result = npm.transact(
            "mint",
            (token0.address, token1.address, fee, tick_lower, tick_upper, raw0, raw1, 0, 0, owner, DEADLINE),
            sender=owner,
        )
        (ev,) = npm.events(result, "IncreaseLiquidity")
        return Position(ev["tokenId"], ev["liquidity"], ev["amount0"], ev["amount1"])

    def decrease_liquidity(self, owner: str, token_id: int, liquidity: int) -> tuple[int, int]:
        """Burn ``liquidity`` from a position; the amounts become owed, to be collected."""
        npm = self.position_manager
        result = npm.transact("decreaseLiquidity", (token_id, liquidity, 0, 0, DEADLINE), sender=owner)
        (ev,) = npm.events(result, "DecreaseLiquidity")
        return ev["amount0"], ev["amount1"]

    def collect(self, owner: str, token_id: int) -> tuple[int, int]:
        """Collect everything owed to a position (fees, and principal after a decrease)."""
        npm = self.position_manager
        result = npm.transact("collect", (token_id, owner, MAX_UINT128, MAX_UINT128), sender=owner)
        (ev,) = npm.events(result, "Collect")
        return ev["amount0"], ev["amount1"]

    def burn(self, owner: str, token_id: int) -> TxResult:
        return self.position_manager.transact("burn", token_id, sender=owner)

    def position(self, token_id: int) -> dict:
        names = (
            "nonce",
            "operator",
            "token0",
            "token1",
            "fee",
            "tickLower",
            "tickUpper",
            "liquidity",
            "feeGrowthInside0LastX128",
            "feeGrowthInside1LastX128",
            "tokensOwed0",
            "tokensOwed1",
        )
        return dict(zip(names, self.position_manager.call("positions", token_id)))

    # --- swaps ------------------------------------------------------------------------------
    def exact_input_single(
        self,
        sender: str,
        token_in: Token,
        token_out: Token,
        fee: int,
        raw_in: int,
        min_out: int = 0,
        sqrt_price_limit_x96: int = 0,
    ) -> tuple[int, dict]:
        """Swap through SwapRouter; returns (raw amount out, the pool's Swap event)."""
        result = self.router.transact(
            "exactInputSingle",
            (token_in.address, token_out.address, fee, sender, DEADLINE, raw_in, min_out, sqrt_price_limit_x96),
            sender=sender,
        )
        (swap,) = self.pool(token_in, token_out, fee).events(result, "Swap")
        return -min(swap["amount0"], swap["amount1"]), swap

    def quote_exact_input_single(
        self, token_in: Token, token_out: Token, fee: int, raw_in: int, sqrt_price_limit_x96: int = 0
    ) -> dict:
        out, sqrt_after, ticks_crossed, gas = self.quoter.call(
            "quoteExactInputSingle", (token_in.address, token_out.address, raw_in, fee, sqrt_price_limit_x96)
        )
        return {
            "amount_out": out,
            "sqrt_price_x96_after": sqrt_after,
            "initialized_ticks_crossed": ticks_crossed,
            "gas_estimate": gas,
        }


def deploy_uniswap_v3(chain: Chain, weth: Token) -> UniswapV3:
    factory = deploy(chain, "UniswapV3Factory", sender=DEPLOYER)
    npm = deploy(chain, "NonfungiblePositionManager", factory.address, weth.address, "0x" + "00" * 20, sender=DEPLOYER)
    router = deploy(chain, "SwapRouter", factory.address, weth.address, sender=DEPLOYER)
    quoter = deploy(chain, "QuoterV2", factory.address, weth.address, sender=DEPLOYER)
    lens = deploy(chain, "TickLens", sender=DEPLOYER)
    return UniswapV3(factory, npm, router, quoter, lens)
