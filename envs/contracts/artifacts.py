"""Compiled contract artifacts, read from the protocols' own npm packages, with library linking.

Uniswap V2 ships waffle-style ``build/*.json`` (``abi``, ``bytecode``); Uniswap V3 and Aave V3
ship Hardhat artifacts whose ``linkReferences`` give the byte offsets where each library's
address must be written before deployment. Morpho Blue ships sources only: its contracts are
compiled from them on first use (envs.contracts.solc, cached per machine), as are the project's own
contracts under envs/contracts/solidity/ (Morpho's AdaptiveCurveIrm, restated from its specification).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from envs.contracts.solc import LOCAL_SOURCES, CompilerUnavailableError, compile_sources, package_root
from envs.paths import PROJECT_ROOT, node_modules_dir

_V3C = "@uniswap/v3-core/artifacts/contracts"
_V3P = "@uniswap/v3-periphery/artifacts/contracts"
_AAVE = "@aave/core-v3/artifacts/contracts"

#: artifact name -> path under node_modules
ARTIFACT_PATHS: dict[str, str] = {
    "WETH9": "@uniswap/v2-periphery/build/WETH9.json",
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "UniswapV3Factory": f"{_V3C}/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": f"{_V3C}/UniswapV3Pool.sol/UniswapV3Pool.json",
    "NonfungiblePositionManager": f"{_V3P}/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
    "SwapRouter": f"{_V3P}/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": f"{_V3P}/lens/QuoterV2.sol/QuoterV2.json",
    "TickLens": f"{_V3P}/lens/TickLens.sol/TickLens.json",
    "MintableERC20": f"{_AAVE}/mocks/tokens/MintableERC20.sol/MintableERC20.json",
    "MockAggregator": f"{_AAVE}/mocks/oracle/CLAggregators/MockAggregator.sol/MockAggregator.json",
    "PoolAddressesProvider": f"{_AAVE}/protocol/configuration/PoolAddressesProvider.sol/PoolAddressesProvider.json",
    "ACLManager": f"{_AAVE}/protocol/configuration/ACLManager.sol/ACLManager.json",
    "AaveOracle": f"{_AAVE}/misc/AaveOracle.sol/AaveOracle.json",
    "AaveProtocolDataProvider": f"{_AAVE}/misc/AaveProtocolDataProvider.sol/AaveProtocolDataProvider.json",
    "DefaultReserveInterestRateStrategy": f"{_AAVE}/protocol/pool/DefaultReserveInterestRateStrategy.sol/DefaultReserveInterestRateStrategy.json",
    "Pool": f"{_AAVE}/protocol/pool/Pool.sol/Pool.json",
    "PoolConfigurator": f"{_AAVE}/protocol/pool/PoolConfigurator.sol/PoolConfigurator.json",
    "AToken": f"{_AAVE}/protocol/tokenization/AToken.sol/AToken.json",
    "VariableDebtToken": f"{_AAVE}/protocol/tokenization/VariableDebtToken.sol/VariableDebtToken.json",
    "StableDebtToken": f"{_AAVE}/protocol/tokenization/StableDebtToken.sol/StableDebtToken.json",
    "IERC20": f"{_AAVE}/dependencies/openzeppelin/contracts/IERC20.sol/IERC20.json",
    "Errors": f"{_AAVE}/protocol/libraries/helpers/Errors.sol/Errors.json",
    #: an upgradeable proxy (storage lives at the proxy, as USDC's FiatTokenProxy keeps its balances)
    "AdminUpgradeabilityProxy": f"{_AAVE}/dependencies/openzeppelin/upgradeability/AdminUpgradeabilityProxy.sol/"
    f"AdminUpgradeabilityProxy.json",
}
for _lib in (
    "BorrowLogic",
    "BridgeLogic",
    "EModeLogic",
    "FlashLoanLogic",
    "LiquidationLogic",
    "PoolLogic",
    "SupplyLogic",
    "ConfiguratorLogic",
):
    ARTIFACT_PATHS[_lib] = f"{_AAVE}/protocol/libraries/logic/{_lib}.sol/{_lib}.json"

_MORPHO = "@morpho-org/morpho-blue"
#: the "package" of the project's own sources (envs/contracts/solidity/)
LOCAL = "local"
#: artifact name -> (npm package or LOCAL, source file under its src/ or envs/contracts/solidity/): compiled
#: together per package
COMPILED_SOURCES: dict[str, tuple[str, str]] = {
    "Morpho": (_MORPHO, "Morpho.sol"),
    "OracleMock": (_MORPHO, "mocks/OracleMock.sol"),
    "IrmMock": (_MORPHO, "mocks/IrmMock.sol"),
    "AdaptiveCurveIrm": (LOCAL, "AdaptiveCurveIrm.sol"),
}
#: the npm packages whose sources the project's own contracts import
LOCAL_IMPORTS: tuple[str, ...] = (_MORPHO,)
#: events a compiled contract emits through a library (Morpho's `emit EventsLib.Supply(...)`): solc before
#: 0.8.20 leaves them out of the emitting contract's ABI, so they are added from the library's
COMPILED_LIBRARY_EVENTS: dict[str, tuple[str, ...]] = {"Morpho": ("EventsLib",)}


class MissingArtifactError(FileNotFoundError):
    """A protocol's npm package (or one file of it) is not installed."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict]
    bytecode: bytes
    #: library name -> list of (byte offset, length) in ``bytecode`` to patch with its address
    link_references: dict[str, list[tuple[int, int]]]

    def linked(self, libraries: dict[str, str]) -> bytes:
        """Creation bytecode with each library's address written at its link offsets."""
        missing = set(self.link_references) - set(libraries)
        if missing:
            raise ValueError(f"{self.name} needs libraries {sorted(missing)} linked; pass their addresses")
        code = bytearray(self.bytecode)
        for lib, spots in self.link_references.items():
            address = bytes.fromhex(libraries[lib].removeprefix("0x"))
            for start, length in spots:
                code[start : start + length] = address
        return bytes(code)


def _package_of(relpath: str) -> str:
    return "/".join(relpath.split("/")[:2])


@cache
def load_artifact(name: str) -> Artifact:
    """Load ``name``'s ABI and creation bytecode from its npm package (compiled there when it ships sources)."""
    if name in COMPILED_SOURCES:
        return _compiled_artifact(name)
    if name not in ARTIFACT_PATHS:
        known = sorted([*ARTIFACT_PATHS, *COMPILED_SOURCES])
        raise KeyError(f"unknown artifact {name!r}; known: {', '.join(known)}")
    relpath = ARTIFACT_PATHS[name]
    path = node_modules_dir() / relpath
    if not path.is_file():
        raise MissingArtifactError(
            f"artifact {name} not found at {path}: the npm package {_package_of(relpath)} is not "
            f"installed. Run `npm ci` in {PROJECT_ROOT} (or `make setup`), or point "
            f"DEFIGYM_NODE_MODULES at a node_modules folder that has it."
        )
    raw = json.loads(path.read_text())
    code_hex: str = raw["bytecode"] if isinstance(raw["bytecode"], str) else raw["bytecode"]["object"]
    # Placeholders like __$abc…$__ are not hex; zero them so the code parses, then link over them.
    refs: dict[str, list[tuple[int, int]]] = {}
    for _source, libs in raw.get("linkReferences", {}).items():
        for lib, spots in libs.items():
            refs[lib] = [(s["start"], s["length"]) for s in spots]
    body = bytearray.fromhex(_zero_placeholders(code_hex.removeprefix("0x"), refs))
    return Artifact(name=name, abi=raw["abi"], bytecode=bytes(body), link_references=refs)


def _compiled_artifact(name: str) -> Artifact:
    """``name`` compiled from its package's sources with every other registered file of that package."""
    package, _file = COMPILED_SOURCES[name]
    files = tuple(f for p, f in COMPILED_SOURCES.values() if p == package)
    try:
        if package == LOCAL:
            contracts = compile_sources(LOCAL_SOURCES, files, LOCAL_IMPORTS)
        else:
            contracts = compile_sources(package_root(package), files)
    except CompilerUnavailableError as err:  # the same error as a missing artifact file: `npm ci` fixes both
        raise MissingArtifactError(f"artifact {name}: {err}") from err
    abi = list(contracts[name].abi)
    events = {e["name"] for e in abi if e["type"] == "event"}
    for lib in COMPILED_LIBRARY_EVENTS.get(name, ()):
        abi += [e for e in contracts[lib].abi if e["type"] == "event" and e["name"] not in events]
    return Artifact(name=name, abi=abi, bytecode=contracts[name].bytecode, link_references={})


def _zero_placeholders(code_hex: str, refs: dict[str, list[tuple[int, int]]]) -> str:
    chars = list(code_hex)
    for spots in refs.values():
        for start, length in spots:
            chars[2 * start : 2 * (start + length)] = "0" * (2 * length)
    return "".join(chars)
