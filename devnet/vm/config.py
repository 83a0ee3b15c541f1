"""Gas prices and limits of the VM and the chain: the devnet's one fee table.

Every value is nearcore's runtime config for `PROTOCOL_VERSION` (mainnet), as printed by nearcore's
`core/parameters/src/snapshots/near_parameters__config_store__tests__85.json.snap`. A copy of that file
is a test fixture (`tests/devnet/vm/fixtures/`) and `tests/devnet/vm/test_fee_table.py` fails when a
value here (or the README's fee table) drifts from it. The node's transaction and receipt fees
(`devnet.vm.fees`) and the VM's host costs both read this table, so there is one source.

Wasm execution is priced as wasmtime fuel (one unit per wasm operator) times `regular_op_cost`; each host
call pays `base` plus its specific costs below (the `*_base` once, the `*_byte` per byte).
"""

from __future__ import annotations

from dataclasses import dataclass

TGAS = 10**12
PROTOCOL_VERSION = 85  # the nearcore protocol version whose parameters these are


@dataclass(frozen=True)
class Fee:
    """An action fee as nearcore's `Fee`: the send part depends on whether sender is receiver (sir)."""

    send_sir: int
    send_not_sir: int
    execution: int

    def send(self, sir: bool) -> int:
        return self.send_sir if sir else self.send_not_sir


@dataclass(frozen=True, kw_only=True)
class VMConfig:
    """Prices (gas) and limits. `DEFAULT_CONFIG` mirrors nearcore; tests may shrink limits."""

    # -- wasm execution
    regular_op_cost: int = 822_756
    contract_loading_base: int = 35_445_963
    contract_loading_byte: int = 1_089_295
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
    p256_verify_base: int = 1_300_000_000_000
    p256_verify_byte: int = 13_000_000
    # -- logs
    log_base: int = 3_543_313_050
    log_byte: int = 13_198_791
    # -- storage
    storage_write_base: int = 64_196_736_000
    storage_write_key_byte: int = 70_482_867
    storage_write_value_byte: int = 31_018_539
    storage_write_evicted_byte: int = 32_117_307
    storage_read_base: int = 56_356_845_749
    storage_read_key_byte: int = 30_952_533
    storage_read_value_byte: int = 5_611_004
    storage_remove_base: int = 53_473_030_500
    storage_remove_key_byte: int = 38_220_384
    storage_remove_ret_value_byte: int = 11_531_556
    storage_has_key_base: int = 54_039_896_625
    storage_has_key_byte: int = 30_790_845
    touching_trie_node: int = 2_280_000_000
    read_cached_trie_node: int = 2_280_000_000
    storage_num_bytes_account: int = 100
    storage_num_extra_bytes_record: int = 40
    # -- promises and yields
    promise_and_base: int = 1_465_013_400
    promise_and_per_promise: int = 5_452_176
    promise_return: int = 560_152_386
    yield_create_base: int = 153_411_779_276
    yield_create_byte: int = 15_643_988
    yield_create_with_id_base: int = 290_000_000_000
    yield_resume_base: int = 1_195_627_285_210
    yield_resume_byte: int = 47_683_715
    validator_stake_base: int = 911_834_726_400
    validator_total_stake_base: int = 911_834_726_400
    # -- action fees (send part burnt when the receipt is created, execution part when it runs)
    action_receipt: Fee = Fee(108_059_500_000, 108_059_500_000, 108_059_500_000)
    data_receipt_base: Fee = Fee(36_486_732_312, 36_486_732_312, 36_486_732_312)
    data_receipt_byte: Fee = Fee(17_212_011, 47_683_715, 17_212_011)
    create_account: Fee = Fee(500_000_000_000, 500_000_000_000, 7_200_000_000_000)
    deploy_contract: Fee = Fee(184_765_750_000, 184_765_750_000, 184_765_750_000)
    deploy_contract_byte: Fee = Fee(6_812_999, 47_683_715, 64_572_944)
    function_call: Fee = Fee(200_000_000_000, 200_000_000_000, 780_000_000_000)
    function_call_byte: Fee = Fee(2_235_934, 47_683_715, 2_235_934)
    transfer: Fee = Fee(115_123_062_500, 115_123_062_500, 115_123_062_500)
    stake: Fee = Fee(141_715_687_500, 141_715_687_500, 102_217_625_000)
    add_key_full_access: Fee = Fee(101_765_125_000, 101_765_125_000, 101_765_125_000)
    add_key_function_call: Fee = Fee(102_217_625_000, 102_217_625_000, 102_217_625_000)
    add_key_byte: Fee = Fee(1_925_331, 47_683_715, 1_925_331)
    delete_key: Fee = Fee(94_946_625_000, 94_946_625_000, 94_946_625_000)
    delete_account: Fee = Fee(147_489_000_000, 147_489_000_000, 147_489_000_000)
    burnt_gas_reward: tuple[int, int] = (3, 10)  # share of a call's burnt gas paid to the called account
    storage_amount_per_byte: int = 10**19
    # -- limits
    max_gas_burnt: int = 1_000 * TGAS
    max_gas_burnt_view: int = 1_000 * TGAS
    max_total_prepaid_gas: int = 1_000 * TGAS
    max_actions_per_receipt: int = 100
    max_deploy_actions_per_receipt: int = 10
    max_number_bytes_method_names: int = 2_000
    max_length_method_name: int = 256
    max_arguments_length: int = 4_194_304
    max_transaction_size: int = 1_572_864
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
    yield_timeout_length_in_blocks: int = 200
    # -- contract preparation (nearcore's prepare_v3 + finite-wasm)
    initial_memory_pages: int = 1_024
    max_memory_pages: int = 2_048
    max_stack_height: int = 262_144
    max_functions_number_per_contract: int = 10_000
    max_locals_per_contract: int = 1_000_000
    max_tables_per_contract: int = 1
    max_elements_per_contract_table: int = 10_000
    max_function_body_size: int = 196_608
    max_types_per_contract: int = 1_024
    max_params_per_function: int = 64

    @property
    def max_memory_bytes(self) -> int:
        return self.max_memory_pages * 65_536


DEFAULT_CONFIG = VMConfig()
