"""Gas prices and limits of the VM.

Values are nearcore's mainnet parameters (runtime config, protocol ~70) rounded to what matters for a
local chain: the point is that a contract burning "about as much gas as on NEAR" fails here for the same
reasons (prepaid gas, 300 Tgas burnt limit, log limits, 1024-byte yield payload) rather than to match
nearcore to the unit.

Wasm execution is priced as wasmtime fuel (one unit per wasm operator) times `regular_op_cost`; each host
call pays `base` plus its specific costs below (the `*_base` once, the `*_byte` per byte).
"""

from __future__ import annotations

from dataclasses import dataclass

TGAS = 10**12


@dataclass(frozen=True, kw_only=True)
class VMConfig:
    """Prices (gas) and limits. `DEFAULT_CONFIG` mirrors nearcore; tests may shrink limits."""

    # -- wasm execution
    regular_op_cost: int = 822_756
    contract_loading_base: int = 35_445_963
    contract_loading_byte: int = 216_750
    # -- every host call
    base: int = 264_768_111
    # -- guest memory and registers
    read_memory_base: int = 2_609_863_200
    read_memory_byte: int = 3_801_333
    write_memory_base: int = 2_803_794_861
    write_memory_byte: int = 2_723_772
    read_register_base: int = 2_517_165_186
    read_register_byte: int = 98_562
    write_register_base: int = 2_865_522_486
    write_register_byte: int = 3_801_564
    utf8_decoding_base: int = 3_111_779_061
    utf8_decoding_byte: int = 291_580_479
    utf16_decoding_base: int = 3_543_313_050
    utf16_decoding_byte: int = 163_577_493
    # -- hashes and signatures
    sha256_base: int = 4_540_970_250
    sha256_byte: int = 24_117_351
    keccak256_base: int = 5_879_491_275
    keccak256_byte: int = 21_471_105
    keccak512_base: int = 5_811_388_236
    keccak512_byte: int = 36_649_701
    ripemd160_base: int = 853_675_086
    ripemd160_block: int = 680_107_584
    ecrecover_base: int = 278_821_988_457
    ed25519_verify_base: int = 210_000_000_000
    ed25519_verify_byte: int = 9_000_000
    # -- logs
    log_base: int = 3_543_313_050
    log_byte: int = 13_198_791
    # -- storage
    storage_write_base: int = 64_196_736_000
    storage_write_key_byte: int = 70_482_867
    storage_write_value_byte: int = 31_018_539
    storage_write_evicted_byte: int = 32_117_595
    storage_read_base: int = 56_356_845_750
    storage_read_key_byte: int = 30_952_533
    storage_read_value_byte: int = 5_611_005
    storage_remove_base: int = 53_473_030_500
    storage_remove_key_byte: int = 38_220_384
    storage_remove_ret_value_byte: int = 11_531_556
    storage_has_key_base: int = 54_039_896_625
    storage_has_key_byte: int = 30_790_845
    storage_num_extra_bytes_record: int = 40
    # -- promises (send fee is burnt now, exec fee is reserved from prepaid gas for the receiver)
    promise_and_base: int = 1_465_013_400
    promise_and_per_promise: int = 5_452_176
    promise_return: int = 560_152_386
    yield_create_base: int = 153_411_779_276
    yield_create_byte: int = 15_643_988
    yield_resume_base: int = 1_195_627_285_210
    yield_resume_byte: int = 47_683_715
    action_receipt_send: int = 108_059_500_000
    action_receipt_exec: int = 108_059_500_000
    data_receipt_send: int = 36_486_732_312
    data_receipt_exec: int = 36_486_732_312
    function_call_send: int = 2_319_861_500_000
    function_call_exec: int = 2_319_861_500_000
    function_call_byte: int = 2_235_934
    transfer_send: int = 115_123_062_500
    transfer_exec: int = 115_123_062_500
    create_account_send: int = 3_850_000_000_000
    create_account_exec: int = 3_850_000_000_000
    deploy_contract_send: int = 184_765_750_000
    deploy_contract_exec: int = 184_765_750_000
    deploy_contract_byte: int = 6_812_999
    add_key_send: int = 101_765_125_000
    add_key_exec: int = 101_765_125_000
    add_key_byte: int = 1_925_331
    delete_key_send: int = 94_946_625_000
    delete_key_exec: int = 94_946_625_000
    delete_account_send: int = 147_489_000_000
    delete_account_exec: int = 147_489_000_000
    # -- limits
    max_gas_burnt: int = 300 * TGAS
    max_gas_burnt_view: int = 300 * TGAS
    max_number_logs: int = 100
    max_total_log_length: int = 16_384
    max_length_returned_data: int = 4_194_304
    max_length_storage_key: int = 2_048
    max_length_storage_value: int = 4_194_304
    max_register_size: int = 104_857_600
    max_number_registers: int = 100
    registers_memory_limit: int = 1 << 30
    max_promises_per_function_call_action: int = 1_024
    max_number_input_data_dependencies: int = 128
    max_contract_size: int = 4_194_304
    max_yield_payload_size: int = 1_024
    max_memory_bytes: int = 2_048 * 65_536


DEFAULT_CONFIG = VMConfig()
