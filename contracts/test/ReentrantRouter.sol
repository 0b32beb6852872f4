// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// Test only: a "router" that, when asked to swap, calls back into a target with a payload the test
/// chose (a second liquidation, a callback, a withdrawal) and bubbles up whatever revert it gets.
contract ReentrantRouter {
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

    address public target;
    bytes public payload;

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
    }

    function exactInputSingle(ExactInputSingleParams calldata) external payable returns (uint256) {
        (bool ok, bytes memory ret) = target.call(payload);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return 0;
    }
}
