"""Imports point down the layer map: a module imports its own package and lower layers, never up or sideways.

The map, lowest first (DESIGN.md, "The world, redesigned"). Each layer lists its packages; a
module may import from its own package and from any package of a lower layer. The foundation
(layer 0) is one package: its few modules (units, paths, arrays, assets, liquidity_profile) are
the vocabulary everything else shares and may use one another. ``__main__`` modules are
command-line entry points and are exempt as importers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (layer, package): the package is the prefix a module belongs to; the longest prefix wins
PACKAGES: dict[str, tuple[int, str]] = {
    "envs.units": (0, "foundation"),
    "envs.paths": (0, "foundation"),
    "envs.arrays": (0, "foundation"),
    "envs.assets": (0, "foundation"),
    "envs.liquidity_profile": (0, "foundation"),
    "envs.evm": (1, "envs.evm"),
    "envs.protocols": (1, "envs.protocols"),
    "envs.contracts": (2, "envs.contracts"),
    "envs.drivers": (2, "envs.drivers"),
    "envs.data": (3, "envs.data"),
    "envs.flows": (4, "envs.flows"),
    "envs.worlds": (5, "envs.worlds"),
    "envs.roles": (6, "envs.roles"),
    "envs": (7, "envs"),  # envs/__init__.py, envs/episodes.py and the env modules envs/*.py
    "agents": (8, "agents"),
}

#: (importer, imported) pairs that break the map knowingly, each with the reason; keep it short
ALLOWED: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in ("envs", "agents") for p in sorted((ROOT / pkg).rglob("*.py"))}


def _place(module: str) -> tuple[int, str] | None:
    """The (layer, package) of a project module; None for a module outside envs and agents."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in PACKAGES:
            return PACKAGES[".".join(parts[:i])]
    return None


def _imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """Every module ``module`` imports (any depth in the file, absolute or relative), with its line."""
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from envs import units` imports the module envs.units
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, node.lineno))
    return sorted(set(found), key=lambda item: (item[1], item[0]))


def test_layer_map_covers_every_module():
    unmapped = [m for m in _modules() if _place(m) is None]
    assert not unmapped, f"modules outside the layer map (add their package to PACKAGES): {unmapped}"


def test_imports_run_down_the_layers():
    known = _modules()
    problems = []
    for module, path in known.items():
        if module.endswith("__main__"):
            continue
        place = _place(module)
        assert place is not None, f"{module} is outside the layer map"
        layer, package = place
        for target, line in _imports(module, path, known):
            target_place = _place(target)
            if target_place is None or (module, target) in ALLOWED:
                continue
            target_layer, target_package = target_place
            if target_package == package or target_layer < layer:
                continue
            way = "upward" if target_layer > layer else "sideways"
            problems.append(
                f"{path.relative_to(ROOT)}:{line}: {module} (layer {layer}, {package}) imports "
                f"{target} (layer {target_layer}, {target_package}): {way}"
            )
    assert not problems, "imports against the layer map:\n" + "\n".join(problems)
