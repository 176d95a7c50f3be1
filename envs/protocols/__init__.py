"""Protocol mechanics, one module per on-chain library, batched over a leading world axis.

Each function restates its Solidity counterpart in float64 on the contract's own raw units
(token amounts in their smallest unit, V3 sqrt prices as sqrtPriceX96 / 2**96, Aave indexes as
ray / 1e27), written against the array-API namespace so it runs on numpy and torch alike.
"""

from array_api_compat import array_namespace as _array_namespace

_NAMESPACES: dict[type, object] = {}


def array_namespace(*arrays):
    """array_api_compat.array_namespace, remembered per array type: the simulator calls it a dozen
    times per swap step, and on small batches the lookup cost more than the arithmetic. Arguments
    of any other kind (Python scalars first, mixed libraries) take the full lookup."""
    kind = type(arrays[0])
    namespace = _NAMESPACES.get(kind)
    if namespace is None:
        namespace = _array_namespace(*arrays)
        if kind.__module__.split(".")[0] in ("numpy", "torch"):
            _NAMESPACES[kind] = namespace
    return namespace
