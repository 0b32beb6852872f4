// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

interface IERC20T {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
}

interface ISwapRouterV1 {
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

/// Test only: speaks SwapRouter02's exactInputSingle (no deadline field) and swaps through the devnet's
/// SwapRouter v1, so the executor's router-kind flag can be exercised on the devnet.
contract Router02Adapter {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    ISwapRouterV1 public immutable v1;

    constructor(ISwapRouterV1 v1_) {
        v1 = v1_;
    }

    function exactInputSingle(ExactInputSingleParams calldata p) external payable returns (uint256) {
        require(IERC20T(p.tokenIn).transferFrom(msg.sender, address(this), p.amountIn), "pull");
        require(IERC20T(p.tokenIn).approve(address(v1), p.amountIn), "approve");
        return v1.exactInputSingle(
            ISwapRouterV1.ExactInputSingleParams(
                p.tokenIn, p.tokenOut, p.fee, p.recipient, block.timestamp, p.amountIn, p.amountOutMinimum,
                p.sqrtPriceLimitX96
            )
        );
    }
}
