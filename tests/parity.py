"""Tolerance for simulator-vs-bytecode parity: the simulator is float64, the contracts round to integers."""

from __future__ import annotations

REL_TOL = 1e-9  # relative
RAW_UNITS = 2  # raw token units: one rounding on the input side and one on the output side of a step


def close(sim: float, chain: int | float, rel: float = REL_TOL, units: float = RAW_UNITS) -> bool:
    return abs(float(sim) - float(chain)) <= max(rel * abs(float(chain)), units)


def assert_close(what: str, sim: float, chain: int | float, rel: float = REL_TOL, units: float = RAW_UNITS) -> None:
    assert close(sim, chain, rel, units), f"{what}: simulator {float(sim)!r} vs chain {chain!r}"
