"""Address books: the shipped Ethereum book checked offline against the protocols' own init code, the
loader's errors, and ERC20 balances written by storage (forge's ``deal``) through a proxy."""

from __future__ import annotations

import json

import eth_abi
import pytest
from eth_utils import keccak, to_checksum_address

from envs.contracts.accounts import DEV_ACCOUNTS
from envs.contracts.address_book import AddressBookError, address_book, book_names, contract_addresses
from envs.contracts.artifacts import load_artifact
from envs.contracts.balances import BalanceSlotNotFound, Dealer, find_balance_slot
from envs.contracts.contract import Contract, deploy
from envs.contracts.tokens import Token
from envs.evm.revm import PyrevmChain
from envs.units import USDC, WETH, Asset

HOLDER = DEV_ACCOUNTS[4]


def _create2(factory: str, salt: bytes, init_code: bytes) -> str:
    return to_checksum_address(keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + keccak(init_code))[12:])


def test_ethereum_book_pools_are_the_factories_create2_addresses_for_its_tokens():
    """The pools and the pair are where the factories put USDC/WETH, computed from the npm artifacts' init
    code: the book's token, factory and pool addresses agree with each other and with the bytecode."""
    book = address_book("ethereum")
    assert book["chain_id"] == 1 and "ethereum" in book_names()
    usdc, weth = book["tokens"]["USDC"]["address"], book["tokens"]["WETH"]["address"]
    assert int(usdc, 16) < int(weth, 16)  # USDC is token0, as the LP world needs
    v3 = book["uniswap_v3"]
    for fee in (500, 3000):
        salt = keccak(eth_abi.encode(["address", "address", "uint24"], [usdc, weth, fee]))
        assert v3["pools"][f"USDC/WETH/{fee}"] == _create2(v3["factory"], salt, load_artifact("UniswapV3Pool").bytecode)
    assert v3["pools"]["USDC/WETH/500"].lower() == "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"
    assert v3["pools"]["USDC/WETH/3000"].lower() == "0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8"
    v2 = book["uniswap_v2"]
    salt = keccak(bytes.fromhex(usdc[2:]) + bytes.fromhex(weth[2:]))
    assert v2["pairs"]["USDC/WETH"] == _create2(v2["factory"], salt, load_artifact("UniswapV2Pair").bytecode)
    assert {
        "tokens.USDC",
        "uniswap_v3.quoter_v2",
        "aave_v3.pool",
        "aave_v3.oracle",
        "aave_v3.protocol_data_provider",
    } <= set(contract_addresses(book))
    for key in contract_addresses(book):  # every address cites where it comes from
        assert any(key == s or key.startswith(s + ".") for s in book["sources"]), key


def test_unknown_book_names_the_known_ones_and_the_fix(tmp_path):
    with pytest.raises(AddressBookError, match="ethereum.*addresses.json"):
        address_book("etherium")


@pytest.mark.parametrize(
    "drop, named",
    [
        ("uniswap_v3.quoter_v2", "uniswap_v3.quoter_v2"),
        ("aave_v3.pool", "aave_v3.pool"),
        ("tokens.WBTC", "tokens.WBTC"),
    ],
)
def test_a_book_missing_a_key_fails_naming_it(tmp_path, drop, named):
    book = json.loads(json.dumps(address_book("ethereum")))
    section, key = drop.split(".")
    del book[section][key]
    (tmp_path / "book.json").write_text(json.dumps(book))
    with pytest.raises(AddressBookError, match=named.replace(".", r"\.")):
        address_book(tmp_path / "book.json")


def test_a_book_with_a_malformed_address_fails_naming_the_key(tmp_path):
    book = json.loads(json.dumps(address_book("ethereum")))
    book["uniswap_v3"]["swap_router"] = "0x1234"
    (tmp_path / "book.json").write_text(json.dumps(book))
    with pytest.raises(AddressBookError, match=r"uniswap_v3\.swap_router='0x1234' is not an address"):
        address_book(tmp_path / "book.json")


def _proxied_token(chain) -> Token:
    """An ERC20 behind an upgradeable proxy: its balances live in the proxy's storage, as USDC's do."""
    logic = deploy(chain, "MintableERC20", "Logic", "LGC", 6)
    proxy = deploy(chain, "AdminUpgradeabilityProxy", logic.address, DEV_ACCOUNTS[9], b"")
    return Token(Contract(chain, proxy.address, "MintableERC20"), Asset("PRX", 6))


def test_deal_finds_the_balance_slot_of_plain_tokens_weth9_and_a_proxied_token():
    chain = PyrevmChain()
    dealer = Dealer(chain)
    plain = Token(deploy(chain, "MintableERC20", "USD Coin", "USDC", 6), USDC)
    weth = Token(deploy(chain, "WETH9"), WETH)
    proxied = _proxied_token(chain)
    assert find_balance_slot(chain, plain, HOLDER) == (0, "solidity")  # OpenZeppelin's _balances
    assert find_balance_slot(chain, weth, HOLDER) == (3, "solidity")  # WETH9: name, symbol, decimals, balanceOf
    for token in (plain, weth, proxied):
        dealer.deal(token, HOLDER, 123_456_789)
        assert token.balance_of(HOLDER) == 123_456_789
        assert token.balance_of(DEV_ACCOUNTS[3]) == 0  # one holder's entry written, no other
    # the proxied balance is really in the proxy's storage: moving it is an ordinary transfer
    proxied.contract.transact("transfer", DEV_ACCOUNTS[3], 1_000, sender=HOLDER)
    assert proxied.balance_of(DEV_ACCOUNTS[3]) == 1_000 and proxied.balance_of(HOLDER) == 123_455_789


def test_deal_on_a_token_without_a_balance_mapping_says_so():
    chain = PyrevmChain()
    runtime = bytes.fromhex("600760005260206000f3")  # returns 7 for any call: balanceOf never moves
    creation = bytes.fromhex("600a600c600039600a6000f3") + runtime
    address, _ = chain.deploy(DEV_ACCOUNTS[0], creation)
    odd = Token(Contract(chain, address, "MintableERC20"), Asset("ODD", 18))
    with pytest.raises(BalanceSlotNotFound, match="ODD.*impersonat"):
        Dealer(chain).deal(odd, HOLDER, 10)
