;; Contract for tests/devnet/test_nearcore_conformance.py: behaviours where nearcore and a naive chain differ.
;; Memory: static strings below 1024, input at 1024, scratch at 2048+.
(module
  (import "env" "input" (func $input (param i64)))
  (import "env" "read_register" (func $read_register (param i64 i64)))
  (import "env" "register_len" (func $register_len (param i64) (result i64)))
  (import "env" "value_return" (func $value_return (param i64 i64)))
  (import "env" "log_utf8" (func $log_utf8 (param i64 i64)))
  (import "env" "storage_write" (func $storage_write (param i64 i64 i64 i64 i64) (result i64)))
  (import "env" "storage_read" (func $storage_read (param i64 i64 i64) (result i64)))
  (import "env" "current_account_id" (func $current_account_id (param i64)))
  (import "env" "promise_create" (func $promise_create (param i64 i64 i64 i64 i64 i64 i64 i64) (result i64)))
  (import "env" "promise_return" (func $promise_return (param i64)))
  (import "env" "promise_result" (func $promise_result (param i64 i64) (result i64)))
  (import "env" "promise_yield_create" (func $yield_create (param i64 i64 i64 i64 i64 i64 i64) (result i64)))
  (import "env" "promise_yield_resume" (func $yield_resume (param i64 i64 i64 i64) (result i32)))
  (memory 1)
  (data (i32.const 8) "yield")
  (data (i32.const 16) "on_resume")
  (data (i32.const 32) "timeout")
  (data (i32.const 48) "noop")
  (data (i32.const 64) "{}")
  ;; 80..96: a zero u128
  (data (i32.const 96) "resumed")
  (data (i32.const 112) "resume_failed")
  (data (i32.const 128) "same-call")

  (func $load_input (result i64)
    (call $input (i64.const 0))
    (call $read_register (i64.const 0) (i64.const 1024))
    (call $register_len (i64.const 0)))

  (func (export "noop"))

  ;; zero_gas(): a promise to our own noop() with 0 gas attached (nearcore fails *this* receipt)
  (func (export "zero_gas")
    (call $current_account_id (i64.const 5))
    (call $read_register (i64.const 5) (i64.const 4096))
    (drop (call $promise_create (call $register_len (i64.const 5)) (i64.const 4096) (i64.const 4) (i64.const 48)
                                (i64.const 2) (i64.const 64) (i64.const 80) (i64.const 0))))

  ;; spin(): burns gas in a loop of 100000 iterations
  (func (export "spin")
    (local $i i64)
    (loop $l
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (i64.const 100000)))))

  ;; yield_resume_same_call(): yields to on_resume and resumes it at once with "same-call"
  (func (export "yield_resume_same_call")
    (local $p i64)
    (local.set $p (call $yield_create (i64.const 9) (i64.const 16) (i64.const 2) (i64.const 64)
                                      (i64.const 20000000000000) (i64.const 0) (i64.const 2)))
    (call $read_register (i64.const 2) (i64.const 2048))
    (if (i32.eqz (call $yield_resume (i64.const 32) (i64.const 2048) (i64.const 9) (i64.const 128)))
      (then (call $log_utf8 (i64.const 13) (i64.const 112))))
    (call $promise_return (local.get $p)))

  ;; yield(): yields to on_resume and stores the data id under "yield"
  (func (export "yield")
    (local $p i64)
    (local.set $p (call $yield_create (i64.const 9) (i64.const 16) (i64.const 2) (i64.const 64)
                                      (i64.const 20000000000000) (i64.const 0) (i64.const 2)))
    (call $read_register (i64.const 2) (i64.const 2048))
    (drop (call $storage_write (i64.const 5) (i64.const 8) (i64.const 32) (i64.const 2048) (i64.const 1)))
    (call $promise_return (local.get $p)))

  ;; resume(): resumes the stored yield with the input as payload; logs "resume_failed" if it was not pending
  (func (export "resume")
    (local $n i64)
    (local.set $n (call $load_input))
    (drop (call $storage_read (i64.const 5) (i64.const 8) (i64.const 3)))
    (call $read_register (i64.const 3) (i64.const 2048))
    (if (i32.eqz (call $yield_resume (i64.const 32) (i64.const 2048) (local.get $n) (i64.const 1024)))
      (then (call $log_utf8 (i64.const 13) (i64.const 112)))))

  ;; on_resume(): the yield callback; returns the payload (logs "resumed") or "timeout"
  (func (export "on_resume")
    (if (i64.eq (call $promise_result (i64.const 0) (i64.const 4)) (i64.const 1))
      (then
        (call $log_utf8 (i64.const 7) (i64.const 96))
        (call $read_register (i64.const 4) (i64.const 3072))
        (call $value_return (call $register_len (i64.const 4)) (i64.const 3072)))
      (else
        (call $log_utf8 (i64.const 7) (i64.const 32))
        (call $value_return (i64.const 7) (i64.const 32)))))
)
