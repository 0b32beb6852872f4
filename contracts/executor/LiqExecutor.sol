// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

import {
    IAaveV3Pool,
    IMorphoBlue,
    IUniswapV3SwapRouter,
    IUniswapV3SwapRouter02,
    MorphoMarketParams
} from "./ExternalInterfaces.sol";
import {TokenOps} from "./TokenOps.sol";
import {AddressSet} from "./AddressSet.sol";

/// @title LiqExecutor
/// @notice liqbot's liquidation executor. One call liquidates a position on Aave V3 or Morpho Blue, swaps the
/// seized collateral into the debt asset on a Uniswap V3 router, repays whatever funded the repayment and
/// reverts unless at least `minProfit` of the debt asset is left over.
///
/// Funding (per call): the contract's own inventory, an Aave V3 `flashLoanSimple`, a Morpho Blue `flashLoan`,
/// or, for Morpho markets, Morpho's `liquidate` callback (collateral first, repayment pulled afterwards).
///
/// Safety: only the owner or an allowed executor key starts a liquidation; a callback is honoured only while
/// our own entry point waits for exactly that callback, from exactly the lender it called, with exactly the
/// data it sent (the lesson of the public bots that paid premiums for strangers' flash loans); routers come
/// from an owner-managed allowlist; there is no arbitrary call or delegatecall; every allowance is exact and
/// reset to zero after use; funds leave only to the owner or the treasury.
contract LiqExecutor {
    using TokenOps for address;
    using AddressSet for AddressSet.Set;

    enum Protocol {
        AaveV3,
        MorphoBlue
    }

    enum Source {
        Funds, // inventory held by this contract
        AaveFlash, // Aave V3 flashLoanSimple from `Funding.lender` (premium read from the callback)
        MorphoFlash, // Morpho Blue flashLoan from `Funding.lender` (no fee)
        MorphoCallback // Morpho Blue liquidate callback: no loan, Morpho pulls the repayment after the swap
    }

    enum RouterKind {
        SwapRouter, // Uniswap V3 SwapRouter (params with deadline)
        SwapRouter02 // Uniswap SwapRouter02 (params without deadline; the deadline is checked here)
    }

    /// The callback the running entry point waits for; None outside of that window.
    enum Phase {
        None,
        AaveFlash,
        MorphoFlash,
        MorphoLiquidate
    }

    struct AaveLiquidation {
        address pool;
        address collateral;
        address debt;
        address user;
        uint256 debtToCover; // type(uint256).max lets the pool apply its close factor
    }

    struct MorphoLiquidation {
        address morpho;
        MorphoMarketParams market;
        address borrower;
        uint256 seizedAssets; // exactly one of seizedAssets / repaidShares is non-zero (Morpho's rule)
        uint256 repaidShares;
        uint256 maxRepay; // cap on the loan assets repaid; the exact allowance Morpho gets
    }

    struct Funding {
        Source source;
        address lender; // Aave pool or Morpho for flash sources; ignored for Funds and MorphoCallback
        uint256 amount; // flash-loan size in debt-asset units
    }

    struct SwapParams {
        address router;
        RouterKind kind;
        uint24 fee; // Uniswap V3 pool fee tier
        uint256 minAmountOut; // of the debt asset, for the whole seized amount
        uint256 deadline; // unix seconds; checked here for both router kinds
    }

    /// Everything a liquidation needs, carried through the flash/callback data (and checked by hash).
    struct Job {
        Protocol protocol;
        Source source;
        address venue; // Aave pool or Morpho instance to liquidate on
        address collateral;
        address debt;
        address borrower;
        uint256 debtToCover; // Aave
        uint256 seizedAssets; // Morpho
        uint256 repaidShares; // Morpho
        uint256 maxRepay; // Morpho
        MorphoMarketParams market; // Morpho
        SwapParams swap;
        uint256 minProfit;
        bool profitToTreasury;
        uint256 debtBefore; // balances at entry: profit is what the call adds on top of them
        uint256 collateralBefore;
    }

    /// The reentrancy status and the awaited callback share one storage slot, so setting and clearing
    /// them inside a call is a cheap non-zero to non-zero write.
    struct Guard {
        uint8 status;
        Phase phase;
        address caller;
    }

    uint8 private constant NOT_ENTERED = 1;
    uint8 private constant ENTERED = 2;

    address public owner;
    address public pendingOwner;
    address public treasury;
    bool public paused;
    /// When set, every liquidation's profit goes to the treasury (a call can also ask for it).
    bool public profitToTreasuryByDefault;

    AddressSet.Set private _executors;
    AddressSet.Set private _routers;

    Guard private _guard;
    /// While a callback is awaited: keccak256 of the data we sent, so a lender cannot alter the job (its
    /// collateral, router or balances) on the way back. Once the callback ran: its profit, read back by the
    /// entry point. One slot for both, so the hand-off is a cheap write to an already-written slot.
    uint256 private _callbackWord;

    event Liquidated(
        address indexed borrower,
        address indexed debtAsset,
        address indexed collateralAsset,
        Protocol protocol,
        Source source,
        uint256 repaid,
        uint256 seized,
        uint256 flashFee,
        uint256 profit,
        bool profitToTreasury
    );
    event ExecutorSet(address indexed executor, bool allowed);
    event RouterSet(address indexed router, bool allowed);
    event TreasurySet(address indexed treasury);
    event PausedSet(bool paused);
    event ProfitToTreasuryByDefaultSet(bool enabled);
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    error NotOwner(address caller);
    error NotPendingOwner(address caller);
    error NotExecutor(address caller);
    error IsPaused();
    error Reentrancy();
    error ZeroAddress();
    error ZeroAmount();
    error BadRecipient(address to);
    error RouterNotAllowed(address router);
    error Expired(uint256 deadline, uint256 timestamp);
    error SameAsset(address asset);
    error UnsupportedSource(Source source);
    error UntrustedInitiator(address initiator);
    error UnexpectedCallback(address caller);
    error CallbackDataMismatch();
    error CallbackNotCalled();
    error NothingSeized();
    error SwapIncomplete(uint256 leftover);
    error SwapOutputTooLow(uint256 amountOut, uint256 minAmountOut);
    error RepayAboveMax(uint256 repaid, uint256 maxRepay);
    error Unprofitable(int256 profit, uint256 minProfit);
    error BalanceBelowStart(uint256 balance, uint256 expectedAtLeast);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyExecutor() {
        if (msg.sender != owner && !_executors.contains(msg.sender)) revert NotExecutor(msg.sender);
        _;
    }

    modifier whenNotPaused() {
        if (paused) revert IsPaused();
        _;
    }

    modifier nonReentrant() {
        if (_guard.status != NOT_ENTERED) revert Reentrancy();
        _guard.status = ENTERED;
        _;
        _guard.status = NOT_ENTERED;
    }

    constructor(address owner_, address treasury_, address[] memory routers, address[] memory executors) {
        if (owner_ == address(0) || treasury_ == address(0)) revert ZeroAddress();
        owner = owner_;
        treasury = treasury_;
        _guard.status = NOT_ENTERED;
        emit OwnershipTransferred(address(0), owner_);
        emit TreasurySet(treasury_);
        for (uint256 i = 0; i < routers.length; ++i) _setRouter(routers[i], true);
        for (uint256 i = 0; i < executors.length; ++i) _setExecutor(executors[i], true);
    }

    // ------------------------------------------------------------------------------------------------
    // Entry points
    // ------------------------------------------------------------------------------------------------

    /// Liquidate on Aave V3 with `liquidationCall(collateral, debt, user, debtToCover, false)`.
    /// Returns the profit in debt-asset units (kept here or sent to the treasury).
    function liquidateAave(
        AaveLiquidation calldata liq,
        Funding calldata funding,
        SwapParams calldata swap,
        uint256 minProfit,
        bool profitToTreasury
    ) external nonReentrant onlyExecutor whenNotPaused returns (uint256 profit) {
        // Morpho's liquidate callback only exists for Morpho markets.
        if (funding.source == Source.MorphoCallback) revert UnsupportedSource(funding.source);
        Job memory job;
        job.protocol = Protocol.AaveV3;
        job.venue = liq.pool;
        job.collateral = liq.collateral;
        job.debt = liq.debt;
        job.borrower = liq.user;
        job.debtToCover = liq.debtToCover;
        return _execute(job, funding, swap, minProfit, profitToTreasury);
    }

    /// Liquidate on Morpho Blue with `liquidate(market, borrower, seizedAssets, repaidShares, data)`.
    function liquidateMorpho(
        MorphoLiquidation calldata liq,
        Funding calldata funding,
        SwapParams calldata swap,
        uint256 minProfit,
        bool profitToTreasury
    ) external nonReentrant onlyExecutor whenNotPaused returns (uint256 profit) {
        if (liq.maxRepay == 0) revert ZeroAmount();
        Job memory job;
        job.protocol = Protocol.MorphoBlue;
        job.venue = liq.morpho;
        job.collateral = liq.market.collateralToken;
        job.debt = liq.market.loanToken;
        job.borrower = liq.borrower;
        job.seizedAssets = liq.seizedAssets;
        job.repaidShares = liq.repaidShares;
        job.maxRepay = liq.maxRepay;
        job.market = liq.market;
        return _execute(job, funding, swap, minProfit, profitToTreasury);
    }

    function _execute(
        Job memory job,
        Funding calldata funding,
        SwapParams calldata swap,
        uint256 minProfit,
        bool profitToTreasury
    ) private returns (uint256 profit) {
        if (job.collateral == job.debt) revert SameAsset(job.debt);
        if (!_routers.contains(swap.router)) revert RouterNotAllowed(swap.router);
        if (block.timestamp > swap.deadline) revert Expired(swap.deadline, block.timestamp);
        job.source = funding.source;
        job.swap = swap;
        job.minProfit = minProfit;
        job.profitToTreasury = profitToTreasury || profitToTreasuryByDefault;
        job.debtBefore = job.debt.balanceOfSelf();
        job.collateralBefore = job.collateral.balanceOfSelf();

        if (funding.source == Source.Funds) {
            uint256 repaid = _liquidate(job);
            profit = _swapAndSettle(job, repaid, 0, 0);
        } else {
            if (funding.source != Source.MorphoCallback && funding.amount == 0) revert ZeroAmount();
            bytes memory data = abi.encode(job);
            // The lender (or Morpho, for its liquidate callback) is the only caller we will accept.
            address lender = funding.source == Source.MorphoCallback ? job.venue : funding.lender;
            _expectCallback(funding.source, lender, data);
            if (funding.source == Source.AaveFlash) {
                IAaveV3Pool(lender).flashLoanSimple(address(this), job.debt, funding.amount, data, 0);
            } else if (funding.source == Source.MorphoFlash) {
                IMorphoBlue(lender).flashLoan(job.debt, funding.amount, data);
            } else {
                IMorphoBlue(lender).liquidate(job.market, job.borrower, job.seizedAssets, job.repaidShares, data);
            }
            // A lender that never called back did nothing for us: refuse to report success.
            if (_guard.phase != Phase.None) revert CallbackNotCalled();
            _guard.caller = address(0);
            // The lender has pulled its repayment by now; drop whatever allowance is left.
            job.debt.approveExact(lender, 0);
            profit = _callbackWord;
            _callbackWord = 0;
        }
        // Backstop after every repayment: the debt asset ends no lower than it started plus what we keep.
        uint256 expected = job.debtBefore + (job.profitToTreasury ? 0 : profit);
        uint256 balance = job.debt.balanceOfSelf();
        if (balance < expected) revert BalanceBelowStart(balance, expected);
    }

    // ------------------------------------------------------------------------------------------------
    // Callbacks: each accepted only from the lender our entry point called, while it waits for it.
    // ------------------------------------------------------------------------------------------------

    /// Aave V3 flashLoanSimple callback. `initiator` is whoever called flashLoanSimple: it must be us, or a
    /// stranger could borrow in our name and make us pay the premium.
    function executeOperation(
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator,
        bytes calldata params
    ) external returns (bool) {
        if (initiator != address(this)) revert UntrustedInitiator(initiator);
        Job memory job = _acceptCallback(Phase.AaveFlash, params);
        if (asset != job.debt) revert CallbackDataMismatch();
        uint256 repaid = _liquidate(job);
        _callbackWord = _swapAndSettle(job, repaid, amount + premium, premium);
        // The pool pulls amount + premium with transferFrom right after we return.
        asset.approveExact(msg.sender, amount + premium);
        return true;
    }

    /// Morpho Blue flashLoan callback (no fee). Morpho calls back only its own caller, and the phase check
    /// makes sure that caller was our entry point.
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external {
        Job memory job = _acceptCallback(Phase.MorphoFlash, data);
        uint256 repaid = _liquidate(job);
        _callbackWord = _swapAndSettle(job, repaid, assets, 0);
        job.debt.approveExact(msg.sender, assets);
    }

    /// Morpho Blue liquidate callback: the seized collateral is already here and Morpho pulls `repaidAssets`
    /// of the loan token after we return, so the swap pays for the liquidation without any loan.
    function onMorphoLiquidate(uint256 repaidAssets, bytes calldata data) external {
        Job memory job = _acceptCallback(Phase.MorphoLiquidate, data);
        if (repaidAssets > job.maxRepay) revert RepayAboveMax(repaidAssets, job.maxRepay);
        _callbackWord = _swapAndSettle(job, repaidAssets, repaidAssets, 0);
        job.debt.approveExact(msg.sender, repaidAssets);
    }

    function _expectCallback(Source source, address lender, bytes memory data) private {
        if (lender == address(0)) revert ZeroAddress();
        Phase phase = source == Source.AaveFlash
            ? Phase.AaveFlash
            : (source == Source.MorphoFlash ? Phase.MorphoFlash : Phase.MorphoLiquidate);
        _guard.phase = phase;
        _guard.caller = lender;
        _callbackWord = uint256(keccak256(data));
    }

    /// One-shot: the awaited phase is consumed here, so a second callback in the same call is refused.
    function _acceptCallback(Phase phase, bytes calldata data) private returns (Job memory) {
        Guard memory g = _guard;
        if (g.phase != phase || msg.sender != g.caller) revert UnexpectedCallback(msg.sender);
        if (uint256(keccak256(data)) != _callbackWord) revert CallbackDataMismatch();
        _guard.phase = Phase.None;
        return abi.decode(data, (Job));
    }

    // ------------------------------------------------------------------------------------------------
    // Liquidate, swap, settle
    // ------------------------------------------------------------------------------------------------

    /// Liquidate paying from this contract's balance (inventory or a flash loan). Returns the debt repaid.
    function _liquidate(Job memory job) private returns (uint256 repaid) {
        if (job.protocol == Protocol.AaveV3) {
            uint256 balance = job.debt.balanceOfSelf();
            // The pool takes at most debtToCover (or its close factor's share); never allow more than we hold.
            uint256 allowance = job.debtToCover < balance ? job.debtToCover : balance;
            job.debt.approveExact(job.venue, allowance);
            IAaveV3Pool(job.venue).liquidationCall(job.collateral, job.debt, job.borrower, job.debtToCover, false);
            job.debt.approveExact(job.venue, 0);
            repaid = balance - job.debt.balanceOfSelf();
        } else {
            job.debt.approveExact(job.venue, job.maxRepay);
            (, repaid) = IMorphoBlue(job.venue).liquidate(
                job.market,
                job.borrower,
                job.seizedAssets,
                job.repaidShares,
                ""
            );
            job.debt.approveExact(job.venue, 0);
        }
    }

    /// Swap everything seized into the debt asset, check the profit against `owed` (what the lender will
    /// pull), pay the treasury if asked, and record the liquidation.
    function _swapAndSettle(
        Job memory job,
        uint256 repaid,
        uint256 owed,
        uint256 flashFee
    ) private returns (uint256 profit) {
        uint256 seized = job.collateral.balanceOfSelf() - job.collateralBefore;
        if (seized == 0) revert NothingSeized();
        _swap(job, seized);

        uint256 floor = job.debtBefore + owed;
        uint256 balance = job.debt.balanceOfSelf();
        if (balance < floor + job.minProfit) {
            revert Unprofitable(int256(balance) - int256(floor), job.minProfit);
        }
        profit = balance - floor;
        if (job.profitToTreasury && profit != 0) job.debt.safeTransfer(treasury, profit);
        _emitLiquidated(job, [repaid, seized, flashFee, profit]);
    }

    /// amounts = [repaid, seized, flashFee, profit]; the swap output is repaid + flashFee + profit.
    /// (A helper with an array keeps the ten event values within the EVM's stack reach.)
    function _emitLiquidated(Job memory job, uint256[4] memory amounts) private {
        emit Liquidated(
            job.borrower,
            job.debt,
            job.collateral,
            job.protocol,
            job.source,
            amounts[0],
            amounts[1],
            amounts[2],
            amounts[3],
            job.profitToTreasury
        );
    }

    function _swap(Job memory job, uint256 amountIn) private returns (uint256 amountOut) {
        SwapParams memory s = job.swap;
        uint256 before = job.debt.balanceOfSelf();
        job.collateral.approveExact(s.router, amountIn);
        if (s.kind == RouterKind.SwapRouter) {
            IUniswapV3SwapRouter(s.router).exactInputSingle(
                IUniswapV3SwapRouter.ExactInputSingleParams({
                    tokenIn: job.collateral,
                    tokenOut: job.debt,
                    fee: s.fee,
                    recipient: address(this),
                    deadline: s.deadline,
                    amountIn: amountIn,
                    amountOutMinimum: s.minAmountOut,
                    sqrtPriceLimitX96: 0
                })
            );
        } else {
            IUniswapV3SwapRouter02(s.router).exactInputSingle(
                IUniswapV3SwapRouter02.ExactInputSingleParams({
                    tokenIn: job.collateral,
                    tokenOut: job.debt,
                    fee: s.fee,
                    recipient: address(this),
                    amountIn: amountIn,
                    amountOutMinimum: s.minAmountOut,
                    sqrtPriceLimitX96: 0
                })
            );
        }
        job.collateral.approveExact(s.router, 0);
        // Measure rather than trust the router's return value; nothing seized may stay behind.
        uint256 left = job.collateral.balanceOfSelf();
        if (left != job.collateralBefore) revert SwapIncomplete(left - job.collateralBefore);
        amountOut = job.debt.balanceOfSelf() - before;
        if (amountOut < s.minAmountOut) revert SwapOutputTooLow(amountOut, s.minAmountOut);
    }

    // ------------------------------------------------------------------------------------------------
    // Owner
    // ------------------------------------------------------------------------------------------------

    /// Send `amount` of `token` (type(uint256).max: the whole balance) to the owner or the treasury only.
    function withdraw(address token, uint256 amount, address to) external onlyOwner nonReentrant {
        if (to == address(0) || (to != owner && to != treasury)) revert BadRecipient(to);
        if (amount == type(uint256).max) amount = token.balanceOfSelf();
        if (amount == 0) revert ZeroAmount();
        token.safeTransfer(to, amount);
        emit Withdrawn(token, to, amount);
    }

    function setExecutor(address executor, bool allowed) external onlyOwner {
        _setExecutor(executor, allowed);
    }

    function setRouter(address router, bool allowed) external onlyOwner {
        _setRouter(router, allowed);
    }

    /// The treasury should be a Safe: it is one of only two places funds can go.
    function setTreasury(address newTreasury) external onlyOwner {
        if (newTreasury == address(0)) revert ZeroAddress();
        treasury = newTreasury;
        emit TreasurySet(newTreasury);
    }

    function setPaused(bool paused_) external onlyOwner {
        paused = paused_;
        emit PausedSet(paused_);
    }

    function setProfitToTreasuryByDefault(bool enabled) external onlyOwner {
        profitToTreasuryByDefault = enabled;
        emit ProfitToTreasuryByDefaultSet(enabled);
    }

    /// Two steps, so a typo cannot hand the contract to an address nobody controls.
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    function isExecutor(address account) external view returns (bool) {
        return _executors.contains(account);
    }

    function isRouter(address router) external view returns (bool) {
        return _routers.contains(router);
    }

    function executors() external view returns (address[] memory) {
        return _executors.items;
    }

    function routers() external view returns (address[] memory) {
        return _routers.items;
    }

    function _setExecutor(address executor, bool allowed) private {
        if (executor == address(0)) revert ZeroAddress();
        bool changed = allowed ? _executors.add(executor) : _executors.remove(executor);
        if (changed) emit ExecutorSet(executor, allowed);
    }

    function _setRouter(address router, bool allowed) private {
        if (router == address(0)) revert ZeroAddress();
        bool changed = allowed ? _routers.add(router) : _routers.remove(router);
        if (changed) emit RouterSet(router, allowed);
    }
}
