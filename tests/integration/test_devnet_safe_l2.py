"""The devnet's Safe treasury (2-of-3) and, with --l2, Aave's PriceOracleSentinel."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractLogicError

from liqbot.core.errors import DevnetError
from liqbot.harness.devnet import manager
from liqbot.harness.devnet.rpc import ADMIN, ANVIL_KEYS, LIQUIDATOR, SAFE_OWNERS, DevnetRpc

from .helpers import WAD, book, fund, positions

pytestmark = pytest.mark.devnet
ZERO = "0x0000000000000000000000000000000000000000"


def _safe_signatures(safe_hash: bytes, owner_indexes: list[int]) -> bytes:
    """r‖s‖v per owner, sorted by owner address as Safe's checkNSignatures requires."""
    signed = []
    for i in owner_indexes:
        sig = Account.unsafe_sign_hash(safe_hash, ANVIL_KEYS[i + 1])
        signed.append(
            (int(SAFE_OWNERS[i], 16), sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v]))
        )
    return b"".join(s for _, s in sorted(signed))


def _safe_transfer(chain: DevnetRpc, safe_addr: str, owners: list[int], value: int) -> None:
    safe = chain.contract("Safe", safe_addr)
    nonce = safe.functions.nonce().call()
    args = (LIQUIDATOR, value, b"", 0, 0, 0, 0, ZERO, ZERO)
    safe_hash = safe.functions.getTransactionHash(*args, nonce).call()
    chain.transact(
        safe.functions.execTransaction(*args, _safe_signatures(bytes(safe_hash), owners)), sender=ADMIN
    )


def test_safe_two_of_three(devnet: manager.Devnet, chain: DevnetRpc) -> None:
    safe_addr = devnet.addresses()["safe"]["treasury"]
    safe = chain.contract("Safe", safe_addr)
    assert sorted(safe.functions.getOwners().call()) == sorted(SAFE_OWNERS)
    assert safe.functions.getThreshold().call() == 2
    chain.w3.eth.send_transaction({"from": ADMIN, "to": safe_addr, "value": 10**18})
    before = chain.w3.eth.get_balance(LIQUIDATOR)
    _safe_transfer(chain, safe_addr, [0, 2], 4 * 10**17)
    assert chain.w3.eth.get_balance(LIQUIDATOR) - before == 4 * 10**17
    with pytest.raises(DevnetError, match="GS020"):  # signatures data too short: one owner is not enough
        _safe_transfer(chain, safe_addr, [1], 10**17)
    assert chain.w3.eth.get_balance(safe_addr) == 6 * 10**17


def test_sentinel_blocks_only_mild_liquidations_while_sequencer_down(
    devnet_l2: manager.Devnet, chain_l2: DevnetRpc
) -> None:
    chain = chain_l2
    a = devnet_l2.addresses()
    assert a["l2"] is not None
    pool = chain.contract("Pool", a["aave"]["pool"])
    provider = chain.contract("PoolAddressesProvider", a["aave"]["pool_addresses_provider"])
    assert provider.functions.getPriceOracleSentinel().call() == a["l2"]["price_oracle_sentinel"]
    seeded = book(devnet_l2)
    manager.do_shock(devnet_l2, "WETH", -20)
    weth = a["tokens"]["WETH"]["address"]
    under = [
        p for p in positions(devnet_l2, "aave_v3")
        if p.health_factor < WAD and set(seeded[p.borrower]["collateral"]) == {"WETH"}
    ]  # fmt: skip
    mild = next(p for p in under if p.health_factor >= 95 * WAD // 100)
    deep = next(p for p in under if p.health_factor < 95 * WAD // 100)
    seq = chain.contract("SequencerOracle", a["l2"]["sequencer_oracle"])
    now = chain.w3.eth.get_block("latest")["timestamp"]
    chain.transact(seq.functions.setAnswer(True, now), sender=ADMIN)  # sequencer down

    def liquidate(borrower: str) -> object:
        debt_sym = next(iter(seeded[borrower]["debt"]))
        debt = a["tokens"][debt_sym]["address"]
        fund(chain, debt, pool.address, 10**30)
        return pool.functions.liquidationCall(weth, debt, borrower, 2**256 - 1, False)

    with pytest.raises(ContractLogicError, match="59"):  # PRICE_ORACLE_SENTINEL_CHECK_FAILED
        liquidate(mild.borrower).call({"from": LIQUIDATOR})  # type: ignore[attr-defined]
    chain.transact(liquidate(deep.borrower), sender=LIQUIDATOR)  # type: ignore[arg-type]
    # Back up, but inside the grace period: still only HF < 0.95.
    chain.transact(
        seq.functions.setAnswer(False, chain.w3.eth.get_block("latest")["timestamp"]), sender=ADMIN
    )
    with pytest.raises(ContractLogicError, match="59"):
        liquidate(mild.borrower).call({"from": LIQUIDATOR})  # type: ignore[attr-defined]
    chain.call("evm_increaseTime", a["l2"]["grace_period_s"] + 1)
    chain.mine()
    chain.transact(liquidate(mild.borrower), sender=LIQUIDATOR)  # type: ignore[arg-type]


def test_l2_devnet_has_an_op_gas_price_oracle(devnet_l2: manager.Devnet, chain_l2: DevnetRpc) -> None:
    abi = [
        {"name": "getL1Fee", "type": "function", "stateMutability": "view",
         "inputs": [{"name": "data", "type": "bytes"}], "outputs": [{"name": "", "type": "uint256"}]},
    ]  # fmt: skip
    oracle = chain_l2.contract(abi, devnet_l2.addresses()["l2"]["gas_price_oracle"])
    small, big = (
        oracle.functions.getL1Fee(b"\x01" * 10).call(),
        oracle.functions.getL1Fee(b"\x01" * 1000).call(),
    )
    # Ecotone: (gas + 1088) · (16·1368·30 gwei + 810949·1 gwei) / 16e6, with gas = 16 per non-zero byte.
    per_gas = 16 * 1368 * 30 * 10**9 + 810949 * 10**9
    assert small == (10 * 16 + 1088) * per_gas // (16 * 10**6)
    assert big == (1000 * 16 + 1088) * per_gas // (16 * 10**6)
