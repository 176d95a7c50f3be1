"""The revert reasons of v3-core's UniswapV3Pool.sol the simulator reports per world (0 = success), as
small integer codes so they fit an array; ``REASONS`` maps each to the contract's reason string."""

from envs.protocols.errors import OK as OK  # success, the same code in every protocol

SPL = 1  # swap: the sqrt price limit is not beyond the current price, or is outside the bounds
AS = 2  # swap: amountSpecified == 0
#: a require without a reason string (the chain reports none, so the cases share one code):
NO_REASON = 3
ZERO_LIQUIDITY = NO_REASON  # mint: the pool's `require(amount > 0)`
NOTHING_SWAPPED = NO_REASON  # swap: SwapRouter's callback refuses a swap that moved no tokens
TLU = 4  # tickLower >= tickUpper
TLM = 5  # tickLower < MIN_TICK
TUM = 6  # tickUpper > MAX_TICK
LO = 7  # mint: a tick's gross liquidity would exceed maxLiquidityPerTick

#: code -> the revert reason the contract gives ("" where it gives none)
REASONS = {SPL: "SPL", AS: "AS", NO_REASON: "", TLU: "TLU", TLM: "TLM", TUM: "TUM", LO: "LO"}


def code_of_reason(reason: str) -> int:
    """The simulator's code for a revert reason read from a chain (``-1`` for one it does not model).
    A revert without data (``""``, or the decoder's "no reason given") is a bare require."""
    if reason in ("", "no reason given"):
        return NO_REASON
    for code, text in REASONS.items():
        if text and text == reason:
            return code
    return -1
