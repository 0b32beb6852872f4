// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @title GasPriceOracle (devnet stand-in)
/// @notice The OP-stack L1 data fee view at the predeploy address 0x420000000000000000000000000000000000000F,
///         with the Ecotone formula: fee = calldataGas(tx) + 1088 overhead, priced at
///         (16 · baseFeeScalar · l1BaseFee + blobBaseFeeScalar · blobBaseFee) / (16 · 1e6).
///         `devnet up` places it with anvil_setCode, so storage starts empty: zero means "use the default".
contract GasPriceOracle {
    uint256 private _l1BaseFee;
    uint256 private _blobBaseFee;
    uint256 private _baseFeeScalar;
    uint256 private _blobBaseFeeScalar;

    uint256 public constant decimals = 6;

    function isEcotone() external pure returns (bool) {
        return true;
    }

    function l1BaseFee() public view returns (uint256) {
        return _l1BaseFee == 0 ? 30 gwei : _l1BaseFee;
    }

    function blobBaseFee() public view returns (uint256) {
        return _blobBaseFee == 0 ? 1 gwei : _blobBaseFee;
    }

    function baseFeeScalar() public view returns (uint32) {
        return uint32(_baseFeeScalar == 0 ? 1368 : _baseFeeScalar);
    }

    function blobBaseFeeScalar() public view returns (uint32) {
        return uint32(_blobBaseFeeScalar == 0 ? 810949 : _blobBaseFeeScalar);
    }

    /// @notice Devnet only: move the L1 prices (no access control on purpose).
    function setL1Fees(uint256 newL1BaseFee, uint256 newBlobBaseFee) external {
        _l1BaseFee = newL1BaseFee;
        _blobBaseFee = newBlobBaseFee;
    }

    function getL1GasUsed(bytes memory data) public pure returns (uint256) {
        uint256 gas = 0;
        for (uint256 i = 0; i < data.length; i++) {
            gas += data[i] == 0 ? 4 : 16;
        }
        return gas + 68 * 16;
    }

    function getL1Fee(bytes memory data) external view returns (uint256) {
        uint256 scaledBaseFee = uint256(baseFeeScalar()) * 16 * l1BaseFee();
        uint256 scaledBlobBaseFee = uint256(blobBaseFeeScalar()) * blobBaseFee();
        return (getL1GasUsed(data) * (scaledBaseFee + scaledBlobBaseFee)) / (16 * 10 ** decimals);
    }
}
