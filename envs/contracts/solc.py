"""Compile Solidity sources shipped in an npm package with the npm ``solc`` (solc-js, run under ``node``).

For protocols whose package ships sources only (Morpho Blue), and for the project's own contracts under
envs/contracts/solidity/, which import the packages' files by their npm path (``@scope/package/src/...``). The output (ABI and creation bytecode) is
cached under ``node_modules/.cache/defigym-solc/`` keyed by the sources, the settings and the compiler
version, so each machine compiles once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from envs.paths import PROJECT_ROOT, node_modules_dir

COMPILER_PACKAGE = "solc"  # npm's solc-js; package.json pins the exact version the sources' pragma asks for
CACHE_DIR = ".cache/defigym-solc"  # under node_modules: it goes with the packages it was compiled from
_CACHE_SCHEMA = 3  # bump when the cached layout changes
COMPILE_TIMEOUT_S = 600  # a compile takes seconds; this only stops a hung node
_SETUP_HINT = (
    f"Run `make setup` (or `npm ci`) in {PROJECT_ROOT}, or point DEFIGYM_NODE_MODULES at a node_modules that has it."
)

#: the project's own Solidity sources
LOCAL_SOURCES = Path(__file__).resolve().parent / "solidity"

#: standard-JSON compile run by node: stdin {solc, root, modules, imports, input} -> stdout solc's output. Imports resolve
#: to files under ``root`` (source unit names are paths relative to it, as the packages' relative imports give);
#: an import naming an npm package (``@scope/...``) resolves under ``modules`` (node_modules), and only for the
#: packages ``imports`` lists (the ones the cache key hashes).
_NODE_SCRIPT = r"""
const fs = require("fs"), path = require("path");
const job = JSON.parse(fs.readFileSync(0, "utf8"));
const solc = require(job.solc);
const root = path.resolve(job.root);
function findImports(name) {
  if (name.startsWith("@") && !job.imports.some((p) => name.startsWith(p + "/")))
    return { error: "imports " + name + " from a package the compile does not list in imports " +
      JSON.stringify(job.imports) + ": add it, so the cache key covers its sources" };
  const base = name.startsWith("@") ? path.resolve(job.modules) : root;
  const file = path.resolve(base, name);
  if (!file.startsWith(base + path.sep)) return { error: "import outside " + base + ": " + name };
  try { return { contents: fs.readFileSync(file, "utf8") }; } catch (e) { return { error: "not found: " + file }; }
}
const out = solc.compile(JSON.stringify(job.input), { import: findImports });
process.stdout.write(JSON.stringify({ version: solc.version(), output: JSON.parse(out) }));
"""


class CompilerUnavailableError(FileNotFoundError):
    """``node``, the npm compiler or the package whose sources to compile is not installed."""


class CompileError(RuntimeError):
    """solc reported errors, or the compile job failed."""


#: the compiler settings, recorded in every cached output: optimizer on at 200 runs, paris. The IR pipeline stays
#: off: solc-js compiles Morpho.sol in seconds without it, and its runtime code (~17 kB) fits EIP-170's 24,576 B.
#: paris has no PUSH0, so the code runs on any post-Merge chain (the rungs run shanghai).
SETTINGS: dict = {
    "optimizer": {"enabled": True, "runs": 200},
    "viaIR": False,
    "evmVersion": "paris",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}


@dataclass(frozen=True)
class CompiledContract:
    name: str
    abi: list[dict]
    bytecode: bytes  # creation code


def compiler_version() -> str:
    """The installed npm compiler's version (e.g. ``0.8.19``)."""
    manifest = node_modules_dir() / COMPILER_PACKAGE / "package.json"
    if not manifest.is_file():
        raise CompilerUnavailableError(f"the npm compiler `{COMPILER_PACKAGE}` is not installed. {_SETUP_HINT}")
    return json.loads(manifest.read_text())["version"]


def package_root(package: str, src: str = "src") -> Path:
    """``package``'s source folder under node_modules; a clear error when the package is missing."""
    root = node_modules_dir() / package / src
    if not root.is_dir():
        raise CompilerUnavailableError(
            f"the npm package {package} (its {src}/ sources) is not installed. {_SETUP_HINT}"
        )
    return root


def compile_sources(root: Path, files: tuple[str, ...], imports: tuple[str, ...] = ()) -> dict[str, CompiledContract]:
    """Compile ``files`` (paths under ``root``: a package's sources, or :data:`LOCAL_SOURCES`) together; return
    their contracts, and those of the files they import, by name. ``imports`` names the npm packages whose
    sources the files import by npm path (``@scope/name/src/...``), read from node_modules.

    Served from the cache when the sources (``root``'s and the imported packages'), the settings and the compiler
    are unchanged; remembered per node_modules folder for the process."""
    return _compile(str(node_modules_dir()), str(root), tuple(sorted(files)), tuple(sorted(imports)))


def cached_output_path(root: Path, files: tuple[str, ...], imports: tuple[str, ...] = ()) -> Path:
    """Where :func:`compile_sources`'s output for these arguments is (or will be) cached."""
    h = hashlib.sha256(json.dumps([_CACHE_SCHEMA, compiler_version(), sorted(files), SETTINGS]).encode())
    for folder in (root, *(package_root(p) for p in sorted(imports))):
        for path in sorted(folder.rglob("*.sol")):
            h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return node_modules_dir() / CACHE_DIR / f"{h.hexdigest()[:32]}.json"


@cache
def _compile(modules: str, root: str, files: tuple[str, ...], imports: tuple[str, ...]) -> dict[str, CompiledContract]:
    """compile_sources, remembered per node_modules folder (``modules``)."""
    cached = cached_output_path(Path(root), files, imports)
    if cached.is_file():
        raw = json.loads(cached.read_text())
    else:
        raw = _run_solc(Path(root), files, Path(modules), imports)
        raw.update(files=list(files), imported=list(imports), settings=SETTINGS, npm_compiler=compiler_version())
        try:
            _write_atomic(cached, json.dumps(raw))
        except OSError as err:  # a read-only node_modules: it works, compiling again in each process
            warnings.warn(f"cannot cache the compiled {files} at {cached}: {err}", stacklevel=2)
    return {
        name: CompiledContract(name, c["abi"], bytes.fromhex(c["bytecode"])) for name, c in raw["contracts"].items()
    }


def _run_solc(root: Path, files: tuple[str, ...], modules: Path, imports: tuple[str, ...]) -> dict:
    """Run solc-js on ``files`` under ``root``, npm-path imports of the ``imports`` packages resolved under
    ``modules``."""
    node = shutil.which("node")
    if node is None:
        raise CompilerUnavailableError(
            "`node` is not on PATH: Node.js runs the npm Solidity compiler. Install Node.js, then "
            f"run `make setup` (or `npm ci`) in {PROJECT_ROOT}."
        )
    sources = {}
    for f in files:
        path = root / f
        if not path.is_file():
            raise CompilerUnavailableError(f"source {path} is missing. {_SETUP_HINT}")
        sources[f] = {"content": path.read_text()}
    job = {
        "solc": str(node_modules_dir() / COMPILER_PACKAGE),
        "root": str(root),
        "modules": str(modules),
        "imports": list(imports),
        "input": {"language": "Solidity", "sources": sources, "settings": SETTINGS},
    }
    try:
        proc = subprocess.run(
            [node, "-e", _NODE_SCRIPT], input=json.dumps(job), capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise CompileError(f"the solc-js compile of {files} under {root} ran past {COMPILE_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise CompileError(f"the solc-js compile of {files} under {root} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout)
    output = result["output"]
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise CompileError(f"solc {result['version']} rejected {files} under {root}:\n" + "\n".join(errors))
    contracts: dict[str, dict] = {}  # by name; the entry files' contracts first, then those they import
    for f in [*files, *sorted(set(output["contracts"]) - set(files))]:
        for name, c in output["contracts"].get(f, {}).items():
            contracts.setdefault(name, {"abi": c["abi"], "bytecode": c["evm"]["bytecode"]["object"]})
    return {"solc": result["version"], "contracts": contracts}


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # readable by whoever shares the node_modules
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
