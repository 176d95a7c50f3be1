"""ERC20 tokens of the local market: WETH9 and mintable USDC (6 decimals) and WBTC (8 decimals)."""

from __future__ import annotations

from dataclasses import dataclass

from envs.contracts.accounts import DEPLOYER
from envs.contracts.contract import Contract, deploy
from envs.evm.chain import Chain, TxResult
from envs.units import MAX_UINT256, USDC, WBTC, WETH, Asset


@dataclass
class Token:
    """An asset (``envs.units.Asset``: its symbol and decimals) as an ERC20 contract on a chain."""

    contract: Contract
    asset: Asset

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def symbol(self) -> str:
        return self.asset.symbol

    @property
    def decimals(self) -> int:
        return self.asset.decimals

    def balance_of(self, owner: str) -> int:
        return self.contract.call("balanceOf", owner)

    def mint(self, to: str, raw: int) -> None:
        """Credit ``raw`` units to ``to``: WETH is wrapped from ETH, the others minted."""
        if self.symbol == "WETH":
            chain = self.contract.chain
            chain.set_balance(to, chain.get_balance(to) + raw)
            self.contract.transact("deposit", sender=to, value=raw)
        else:
            self.contract.transact("mint(address,uint256)", to, raw, sender=to)

    def approve(self, owner: str, spender: str, raw: int = MAX_UINT256) -> TxResult:
        return self.contract.transact("approve", spender, raw, sender=owner)


def attach_token(chain: Chain, address: str, asset: Asset) -> Token:
    """``asset`` at ``address`` on ``chain`` (WETH through WETH9's ABI, which wraps ETH)."""
    return Token(Contract(chain, address, "WETH9" if asset.symbol == "WETH" else "MintableERC20"), asset)


def deploy_tokens(chain: Chain) -> dict[str, Token]:
    """USDC's address must sort below WETH's so USDC is token0 of USDC/WETH, as on mainnet. On a fresh
    chain deploying USDC first does it; on a fork the deployer's nonce differs, so USDC is deployed
    again until it sorts below (each try is a coin flip of CREATE addresses)."""

    def mintable(name: str, asset: Asset) -> Token:
        return Token(deploy(chain, "MintableERC20", name, asset.symbol, asset.decimals, sender=DEPLOYER), asset)

    usdc = mintable("USD Coin", USDC)
    weth = Token(deploy(chain, "WETH9", sender=DEPLOYER), WETH)
    while int(usdc.address, 16) > int(weth.address, 16):
        usdc = mintable("USD Coin", USDC)
    wbtc = mintable("Wrapped BTC", WBTC)
    return {"USDC": usdc, "WETH": weth, "WBTC": wbtc}
