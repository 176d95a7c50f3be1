"""Each numeric constant is defined in one module, and the protocols' constants only in envs/units.py.

A duplicated constant drifts (an int here, a float there, a different tier table), so every module
other than its owner imports it. The check reads the source (ast): a module-level UPPER_CASE name
bound to a numeric literal expression, or a dict of them, is a constant.
"""

from __future__ import annotations

import ast
import operator
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNITS = "envs/units.py"

#: the protocols' constants (values) that only envs/units.py may bind to a constant-like name
PROTOCOL_VALUES = {
    10**4: "BPS / PERCENTAGE_FACTOR",
    10**18: "WAD",
    10**27: "RAY",
    2**96: "Q96",
    2**128: "Q128",
    365 * 24 * 3600: "SECONDS_PER_YEAR",
    10**6: "FEE_DENOMINATOR",
}
PROTOCOL_NAME = re.compile(r"BPS|PERCENT|FACTOR|RAY|WAD|Q\d+|YEAR|DENOM|UNIT|SCALE|ONE")
UPPER = re.compile(r"^_?[A-Z][A-Z0-9_]*$")

#: (module, name) definitions left knowingly, each with the reason
ALLOWED: set[tuple[str, str]] = set()

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.Mod: operator.mod,
}


def _value(node: ast.expr) -> int | float | None:
    """The value of a numeric literal expression (numbers, unary minus, arithmetic); None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _value(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _value(node.left), _value(node.right)
        if left is None or right is None:
            return None
        return _OPS[type(node.op)](left, right)
    return None


def _is_constant(node: ast.expr) -> bool:
    """A numeric literal expression, or a dict whose keys and values all are."""
    if isinstance(node, ast.Dict):
        return bool(node.keys) and all(
            k is not None and _value(k) is not None and _value(v) is not None for k, v in zip(node.keys, node.values)
        )
    return _value(node) is not None


def _bindings(tree: ast.Module) -> Iterator[tuple[str, ast.expr, int]]:
    """(name, value, line) of each module-level binding, tuple assignments paired up."""
    for node in tree.body:
        pairs: list[tuple[ast.expr, ast.expr]] = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs += zip(target.elts, node.value.elts)
                else:
                    pairs.append((target, node.value))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            pairs = [(node.target, node.value)]
        else:
            continue
        for target, value in pairs:
            if isinstance(target, ast.Name) and UPPER.match(target.id):
                yield target.id, value, node.lineno


def _constants() -> list[tuple[str, str, ast.expr, int]]:
    """(module path, name, value, line) of every constant under envs/ and agents/."""
    found = []
    for package in ("envs", "agents"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for name, value, line in _bindings(ast.parse(path.read_text(), rel)):
                if _is_constant(value) and (rel, name) not in ALLOWED:
                    found.append((rel, name, value, line))
    return found


def test_each_constant_is_defined_once():
    where = defaultdict(list)
    for rel, name, _, line in _constants():
        where[name].append(f"{rel}:{line}")
    twice = {name: places for name, places in where.items() if len({p.split(":")[0] for p in places}) > 1}
    assert not twice, "constants defined in more than one module (define once, import elsewhere):\n" + "\n".join(
        f"{name}: {', '.join(places)}" for name, places in sorted(twice.items())
    )


def test_protocol_constants_live_in_units():
    stray = []
    for rel, name, value, line in _constants():
        number = _value(value)
        if rel == UNITS or number is None or not PROTOCOL_NAME.search(name):
            continue
        for protocol_value, meaning in PROTOCOL_VALUES.items():
            if float(number) == float(protocol_value):  # 1e27 is not exactly 10**27
                stray.append(f"{rel}:{line}: {name} = {ast.unparse(value)} is {meaning}: import it from envs.units")
    assert not stray, "protocol constants bound outside envs/units.py:\n" + "\n".join(stray)


def test_units_defines_the_protocol_constants():
    names = {name for name, _, _ in _bindings(ast.parse((ROOT / UNITS).read_text(), UNITS))}
    expected = {
        "BPS",
        "PERCENTAGE_FACTOR",
        "WAD",
        "RAY",
        "Q96",
        "Q128",
        "SECONDS_PER_YEAR",
        "FEE_DENOMINATOR",
        "MIN_TICK",
        "MAX_TICK",
        "TICK_SPACING",
    }
    assert expected <= names, f"envs/units.py lacks {sorted(expected - names)}"


def _derived(value: ast.expr) -> bool:
    """A constant made from others or from numbers other than one literal: a tuple of integers (a tier table), or an
    expression over names (``float(RAY)``, ``tuple(TICK_SPACING)``). A role's default levels (floats) are its own."""
    if isinstance(value, ast.Tuple):
        return bool(value.elts) and all(isinstance(_value(e), int) for e in value.elts)
    return isinstance(value, ast.Call | ast.BinOp) and any(isinstance(n, ast.Name) for n in ast.walk(value))


def test_no_constant_is_derived_twice():
    """The same table or the same expression over constants, bound under any names in two modules, is one constant
    defined twice (``_RAY = float(RAY)`` in three modules, a fee-tier tuple in two)."""
    where = defaultdict(list)
    for package in ("envs", "agents"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for name, value, line in _bindings(ast.parse(path.read_text(), rel)):
                if _derived(value):
                    where[ast.dump(value)].append(f"{rel}:{line} {name} = {ast.unparse(value)}")
    twice = [places for places in where.values() if len({p.split(":")[0] for p in places}) > 1]
    assert not twice, (
        "the same constant derived in more than one module (define once, import elsewhere):\n"
        + "\n".join("; ".join(places) for places in twice)
    )
