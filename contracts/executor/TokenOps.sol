// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// A token call failed, returned false, or the token has no code.
error TokenCallFailed(address token, bytes4 selector);

/// ERC-20 calls that tolerate tokens returning nothing (USDT-style) and fail loudly on anything else.
/// Only three fixed selectors are ever called: this is not a generic call facility.
library TokenOps {
    function balanceOfSelf(address token) internal view returns (uint256) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
        if (!ok || ret.length < 32) revert TokenCallFailed(token, 0x70a08231);
        return abi.decode(ret, (uint256));
    }

    function safeTransfer(address token, address to, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
    }

    /// Set an allowance to exactly `amount`. Callers go 0 -> amount -> 0 around each use, so tokens that
    /// refuse a non-zero to non-zero change (USDT) work too, and no allowance outlives its call.
    function approveExact(address token, address spender, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0x095ea7b3, spender, amount));
    }

    function _call(address token, bytes memory data) private {
        // A call to an address without code "succeeds"; refuse it instead of trusting it.
        if (token.code.length == 0) revert TokenCallFailed(token, bytes4(data));
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length != 0 && (ret.length < 32 || !abi.decode(ret, (bool))))) {
            revert TokenCallFailed(token, bytes4(data));
        }
    }
}
