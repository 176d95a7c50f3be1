// SPDX-License-Identifier: GPL-2.0-or-later
pragma solidity 0.8.19;
// (under the licence of the Morpho Blue package's interfaces and libraries it is compiled with)

// Morpho's AdaptiveCurveIrm (v1), restated from its published specification
// (morpho-org/morpho-blue-irm, src/adaptive-curve-irm/AdaptiveCurveIrm.sol and libraries/ExpLib.sol,
// ConstantsLib.sol; docs.morpho.org "AdaptiveCurveIRM"): a borrow rate on a curve around the rate at target
// utilization (90%), that rate adapting exponentially over time towards keeping utilization at target.

import {IIrm} from "@morpho-org/morpho-blue/src/interfaces/IIrm.sol";
import {Id, Market, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {MathLib} from "@morpho-org/morpho-blue/src/libraries/MathLib.sol";

int256 constant WAD_INT = 1e18;

/// @notice The model's constants (per-second rates, WAD-scaled), as the specification's ConstantsLib gives them.
library AdaptiveCurveConstants {
    int256 internal constant CURVE_STEEPNESS = 4 ether;
    int256 internal constant ADJUSTMENT_SPEED = 50 ether / int256(365 days);
    int256 internal constant TARGET_UTILIZATION = 0.9 ether;
    int256 internal constant INITIAL_RATE_AT_TARGET = 0.04 ether / int256(365 days);
    int256 internal constant MIN_RATE_AT_TARGET = 0.001 ether / int256(365 days);
    int256 internal constant MAX_RATE_AT_TARGET = 2.0 ether / int256(365 days);
}

/// @notice Signed WAD products and quotients rounded toward zero (Solidity's signed division).
library SignedWadMath {
    function wMulToZero(int256 x, int256 y) internal pure returns (int256) {
        return (x * y) / WAD_INT;
    }

    function wDivToZero(int256 x, int256 y) internal pure returns (int256) {
        return (x * WAD_INT) / y;
    }
}

/// @notice e^x in signed WAD: x = q ln2 + r with |r| <= ln2 / 2, e^r by its second-order Taylor expansion,
/// times 2^q by a shift (the specification's ExpLib.wExp).
library ExpLib {
    int256 internal constant LN_2_INT = 0.693147180559945309 ether;
    /// below ln(1e-18) the result rounds to 0
    int256 internal constant LN_WEI_INT = -41.446531673892822312 ether;
    /// at and above this bound the result is capped at its value there
    int256 internal constant WEXP_UPPER_BOUND = 93.859467695000404319 ether;
    int256 internal constant WEXP_UPPER_VALUE = 57716089161558943949701069502944508345128.422502756744429568 ether;

    function wExp(int256 x) internal pure returns (int256) {
        unchecked {
            if (x < LN_WEI_INT) return 0;
            if (x >= WEXP_UPPER_BOUND) return WEXP_UPPER_VALUE;
            int256 roundingAdjustment = (x < 0) ? -(LN_2_INT / 2) : (LN_2_INT / 2);
            int256 q = (x + roundingAdjustment) / LN_2_INT;
            int256 r = x - q * LN_2_INT;
            int256 expR = WAD_INT + r + (r * r) / WAD_INT / 2;
            if (q >= 0) return expR << uint256(q);
            else return expR >> uint256(-q);
        }
    }
}

/// @notice The adaptive curve interest rate model for Morpho Blue markets.
contract AdaptiveCurveIrm is IIrm {
    using MathLib for uint256;
    using MarketParamsLib for MarketParams;
    using SignedWadMath for int256;

    /// @notice emitted when Morpho updates a market's rate: the average borrow rate returned and the new rate at target
    event BorrowRateUpdate(Id indexed id, uint256 avgBorrowRate, uint256 rateAtTarget);

    /// @notice the Morpho contract, the only caller of borrowRate
    address public immutable MORPHO;

    /// @notice each market's rate at target utilization (per second, WAD); 0 before its first borrowRate
    mapping(Id => int256) public rateAtTarget;

    constructor(address morpho) {
        require(morpho != address(0), "zero address");
        MORPHO = morpho;
    }

    /// @inheritdoc IIrm
    function borrowRateView(MarketParams memory marketParams, Market memory market) external view returns (uint256) {
        (uint256 avgRate,) = _borrowRate(marketParams.id(), market);
        return avgRate;
    }

    /// @inheritdoc IIrm
    /// @dev Stores the market's new rate at target, so only Morpho may call it.
    function borrowRate(MarketParams memory marketParams, Market memory market) external returns (uint256) {
        require(msg.sender == MORPHO, "not Morpho");
        Id id = marketParams.id();
        (uint256 avgRate, int256 endRateAtTarget) = _borrowRate(id, market);
        rateAtTarget[id] = endRateAtTarget;
        emit BorrowRateUpdate(id, avgRate, uint256(endRateAtTarget));
        return avgRate;
    }

    /// @dev The average borrow rate over the time since the last update, and the rate at target at its end.
    function _borrowRate(Id id, Market memory market) private view returns (uint256, int256) {
        // utilization <= 1 (WAD) while Morpho keeps borrows covered, so the cast is safe
        int256 utilization = int256(
            market.totalSupplyAssets > 0 ? uint256(market.totalBorrowAssets).wDivDown(market.totalSupplyAssets) : 0
        );
        int256 target = AdaptiveCurveConstants.TARGET_UTILIZATION;
        int256 errNormFactor = utilization > target ? WAD_INT - target : target;
        // err in [-1, 1] (WAD): how far utilization is from target, normalized on each side
        int256 err = (utilization - target).wDivToZero(errNormFactor);

        int256 startRateAtTarget = rateAtTarget[id];
        int256 avgRateAtTarget;
        int256 endRateAtTarget;
        if (startRateAtTarget == 0) {
            // first call for this market (Morpho.createMarket)
            avgRateAtTarget = AdaptiveCurveConstants.INITIAL_RATE_AT_TARGET;
            endRateAtTarget = AdaptiveCurveConstants.INITIAL_RATE_AT_TARGET;
        } else {
            // the rate at target moves as exp(speed * t), speed taken constant since the last update
            int256 speed = AdaptiveCurveConstants.ADJUSTMENT_SPEED.wMulToZero(err);
            int256 elapsed = int256(block.timestamp - market.lastUpdate);
            int256 linearAdaptation = speed * elapsed;
            if (linearAdaptation == 0) {
                avgRateAtTarget = startRateAtTarget;
                endRateAtTarget = startRateAtTarget;
            } else {
                // the average of the rate at target over the elapsed time by the trapezoidal rule on two intervals
                endRateAtTarget = _newRateAtTarget(startRateAtTarget, linearAdaptation);
                int256 midRateAtTarget = _newRateAtTarget(startRateAtTarget, linearAdaptation / 2);
                avgRateAtTarget = (startRateAtTarget + endRateAtTarget + 2 * midRateAtTarget) / 4;
            }
        }
        // the curve is linear in the rate at target, so the curve of the average is the average of the curve
        return (uint256(_curve(avgRateAtTarget, err)), endRateAtTarget);
    }

    /// @dev The borrow rate on the curve: rateAtTarget / 4 at err = -1, rateAtTarget at 0, 4 rateAtTarget at 1.
    function _curve(int256 _rateAtTarget, int256 err) private pure returns (int256) {
        int256 steepness = AdaptiveCurveConstants.CURVE_STEEPNESS;
        int256 coeff = err < 0 ? WAD_INT - WAD_INT.wDivToZero(steepness) : steepness - WAD_INT;
        return (coeff.wMulToZero(err) + WAD_INT).wMulToZero(_rateAtTarget);
    }

    /// @dev The rate at target after `linearAdaptation` (speed x time): start x e^linearAdaptation, kept within
    /// [MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET].
    function _newRateAtTarget(int256 start, int256 linearAdaptation) private pure returns (int256) {
        int256 rate = start.wMulToZero(ExpLib.wExp(linearAdaptation));
        if (rate < AdaptiveCurveConstants.MIN_RATE_AT_TARGET) return AdaptiveCurveConstants.MIN_RATE_AT_TARGET;
        if (rate > AdaptiveCurveConstants.MAX_RATE_AT_TARGET) return AdaptiveCurveConstants.MAX_RATE_AT_TARGET;
        return rate;
    }
}
