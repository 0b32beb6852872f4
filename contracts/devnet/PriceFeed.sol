// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// @title PriceFeed
/// @notice A Chainlink-style aggregator whose answer the devnet can move. It emits the same events
///         (AnswerUpdated, NewRound) and serves the same views as Chainlink's aggregators, so the
///         bot's price collectors see exactly what they would see on a real chain.
contract PriceFeed {
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    struct Round {
        int256 answer;
        uint256 updatedAt;
    }

    address public owner;
    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;
    uint80 public latestRound;
    mapping(uint80 => Round) private rounds;

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        owner = msg.sender;
        decimals = decimals_;
        description = description_;
        _push(initialAnswer);
    }

    function setAnswer(int256 answer) external {
        require(msg.sender == owner, "PriceFeed: not owner");
        _push(answer);
    }

    function transferOwnership(address newOwner) external {
        require(msg.sender == owner, "PriceFeed: not owner");
        owner = newOwner;
    }

    function latestAnswer() external view returns (int256) {
        return rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return rounds[latestRound].updatedAt;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }

    function getRoundData(uint80 roundId) public view returns (uint80, int256, uint256, uint256, uint80) {
        Round memory r = rounds[roundId];
        require(r.updatedAt != 0, "PriceFeed: no data");
        return (roundId, r.answer, r.updatedAt, r.updatedAt, roundId);
    }

    function _push(int256 answer) private {
        require(answer > 0, "PriceFeed: answer must be positive");
        uint80 roundId = latestRound + 1;
        latestRound = roundId;
        rounds[roundId] = Round(answer, block.timestamp);
        emit NewRound(roundId, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }
}
