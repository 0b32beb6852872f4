// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

// The few external functions LiqExecutor calls, declared here by hand with exactly the
// signatures the deployed protocols expose (Aave V3 Pool, Morpho Blue, Uniswap V3 routers).

/// Aave V3 Pool: flash loan and liquidation entry points.
interface IAaveV3Pool {
    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external;

    function liquidationCall(
        address collateralAsset,
        address debtAsset,
        address user,
        uint256 debtToCover,
        bool receiveAToken
    ) external;
}

/// A Morpho Blue market is identified by these five fields (its id is their keccak256).
struct MorphoMarketParams {
    address loanToken;
    address collateralToken;
    address oracle;
    address irm;
    uint256 lltv;
}

/// Morpho Blue: flash loan (no fee) and liquidation with an optional callback.
interface IMorphoBlue {
    function flashLoan(address token, uint256 assets, bytes calldata data) external;

    function liquidate(
        MorphoMarketParams memory marketParams,
        address borrower,
        uint256 seizedAssets,
        uint256 repaidShares,
        bytes memory data
    ) external returns (uint256 seized, uint256 repaidAssets);
}

/// Uniswap V3 SwapRouter (v1): its single-pool exact-input params carry a deadline.
interface IUniswapV3SwapRouter {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256);
}

/// Uniswap SwapRouter02 (IV3SwapRouter): the same swap without a deadline field, hence another selector.
interface IUniswapV3SwapRouter02 {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256);
}
