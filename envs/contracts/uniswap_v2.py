"""Uniswap V2 on an EVM rung: factory, Router02 and pairs from @uniswap/v2-core and v2-periphery."""

from __future__ import annotations

from dataclasses import dataclass

from envs.contracts.accounts import DEPLOYER
from envs.contracts.contract import Contract, deploy
from envs.contracts.tokens import Token
from envs.evm.chain import DEADLINE, Chain


@dataclass
class UniswapV2:
    factory: Contract
    router: Contract

    @property
    def chain(self) -> Chain:
        return self.factory.chain

    def pair(self, token_a: Token, token_b: Token) -> Contract:
        address = self.factory.call("getPair", token_a.address, token_b.address)
        if int(address, 16) == 0:
            raise KeyError(f"no Uniswap V2 pair for {token_a.symbol}/{token_b.symbol}")
        return Contract(self.chain, address, "UniswapV2Pair")

    def create_pair(self, token_a: Token, token_b: Token) -> Contract:
        self.factory.transact("createPair", token_a.address, token_b.address, sender=DEPLOYER)
        return self.pair(token_a, token_b)

    def reserves(self, token_a: Token, token_b: Token) -> tuple[int, int]:
        """Reserves of (token_a, token_b), in raw units."""
        pair = self.pair(token_a, token_b)
        r0, r1, _ts = pair.call("getReserves")
        return (r0, r1) if int(token_a.address, 16) < int(token_b.address, 16) else (r1, r0)

    def add_liquidity(self, owner: str, token_a: Token, token_b: Token, raw_a: int, raw_b: int) -> dict:
        token_a.approve(owner, self.router.address)
        token_b.approve(owner, self.router.address)
        result = self.router.transact(
            "addLiquidity", token_a.address, token_b.address, raw_a, raw_b, 0, 0, owner, DEADLINE, sender=owner
        )
        (mint,) = self.pair(token_a, token_b).events(result, "Mint")
        return mint

    def remove_liquidity(self, owner: str, token_a: Token, token_b: Token, shares: int) -> dict:
        pair = self.pair(token_a, token_b)
        pair.transact("approve", self.router.address, shares, sender=owner)
        result = self.router.transact(
            "removeLiquidity", token_a.address, token_b.address, shares, 0, 0, owner, DEADLINE, sender=owner
        )
        (burn,) = pair.events(result, "Burn")
        return burn

    def swap_exact_in(self, sender: str, token_in: Token, token_out: Token, raw_in: int, min_out: int = 0) -> int:
        """Swap ``raw_in`` of ``token_in`` through Router02; returns the raw amount out (from the pair's Swap event)."""
        result = self.router.transact(
            "swapExactTokensForTokens",
            raw_in,
            min_out,
            [token_in.address, token_out.address],
            sender,
            DEADLINE,
            sender=sender,
        )
        (swap,) = self.pair(token_in, token_out).events(result, "Swap")
        return swap["amount0Out"] + swap["amount1Out"]


def deploy_uniswap_v2(chain: Chain, weth: Token) -> UniswapV2:
    factory = deploy(chain, "UniswapV2Factory", DEPLOYER, sender=DEPLOYER)
    router = deploy(chain, "UniswapV2Router02", factory.address, weth.address, sender=DEPLOYER)
    return UniswapV2(factory, router)
