// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

interface IMorphoFlashLoanCallbackT {
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external;
}

/// Test only: a "lender" an executor key could name, speaking Morpho's flashLoan. It lends nothing and
/// either never calls back, or calls back with the data altered (an inflated balance in the job).
contract FakeLender {
    bool public tamper;

    function setTamper(bool tamper_) external {
        tamper = tamper_;
    }

    function flashLoan(address, uint256 assets, bytes calldata data) external {
        if (!tamper) return;
        bytes memory altered = data;
        altered[altered.length - 1] = bytes1(uint8(altered[altered.length - 1]) ^ 0x01);
        IMorphoFlashLoanCallbackT(msg.sender).onMorphoFlashLoan(assets, altered);
    }
}
