;; A hand-written NEAR contract for the devnet node tests (no toolchain needed: wasmtime.wat2wasm).
;; Memory: static strings below 1024, input at 1024, scratch at 2048+.
(module
  (import "env" "input" (func $input (param i64)))
  (import "env" "read_register" (func $read_register (param i64 i64)))
  (import "env" "register_len" (func $register_len (param i64) (result i64)))
  (import "env" "value_return" (func $value_return (param i64 i64)))
  (import "env" "log_utf8" (func $log_utf8 (param i64 i64)))
  (import "env" "panic_utf8" (func $panic_utf8 (param i64 i64)))
  (import "env" "storage_write" (func $storage_write (param i64 i64 i64 i64 i64) (result i64)))
  (import "env" "storage_read" (func $storage_read (param i64 i64 i64) (result i64)))
  (import "env" "current_account_id" (func $current_account_id (param i64)))
  (import "env" "attached_deposit" (func $attached_deposit (param i64)))
  (import "env" "promise_yield_create" (func $yield_create (param i64 i64 i64 i64 i64 i64 i64) (result i64)))
  (import "env" "promise_yield_resume" (func $yield_resume (param i64 i64 i64 i64) (result i32)))
  (import "env" "promise_result" (func $promise_result (param i64 i64) (result i64)))
  (import "env" "promise_create" (func $promise_create (param i64 i64 i64 i64 i64 i64 i64 i64) (result i64)))
  (import "env" "promise_then" (func $promise_then (param i64 i64 i64 i64 i64 i64 i64 i64 i64) (result i64)))
  (import "env" "promise_return" (func $promise_return (param i64)))
  (import "env" "promise_batch_create" (func $batch_create (param i64 i64) (result i64)))
  (import "env" "promise_batch_action_transfer" (func $batch_transfer (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "k")
  (data (i32.const 8) "yield")
  (data (i32.const 16) "on_resume")
  (data (i32.const 32) "timeout")
  (data (i32.const 48) "get")
  (data (i32.const 56) "on_get")
  (data (i32.const 64) "{}")
  ;; 80..96: a zero u128 (memory starts zeroed)
  (data (i32.const 96) "resumed")
  (data (i32.const 112) "resume_failed")

  ;; reads the input into 1024, returns its length
  (func $load_input (result i64)
    (call $input (i64.const 0))
    (call $read_register (i64.const 0) (i64.const 1024))
    (call $register_len (i64.const 0)))

  ;; set(): storage["k"] = input
  (func (export "set")
    (local $n i64)
    (local.set $n (call $load_input))
    (drop (call $storage_write (i64.const 1) (i64.const 0) (local.get $n) (i64.const 1024) (i64.const 1))))

  ;; get(): returns storage["k"] (empty when unset)
  (func (export "get")
    (if (i64.eq (call $storage_read (i64.const 1) (i64.const 0) (i64.const 1)) (i64.const 1))
      (then
        (call $read_register (i64.const 1) (i64.const 2048))
        (call $value_return (call $register_len (i64.const 1)) (i64.const 2048)))))

  ;; log(): logs the input as one line, returns it
  (func (export "log")
    (local $n i64)
    (local.set $n (call $load_input))
    (call $log_utf8 (local.get $n) (i64.const 1024))
    (call $value_return (local.get $n) (i64.const 1024)))

  ;; fail(): logs the input, writes storage, then panics with the input as message
  (func (export "fail")
    (local $n i64)
    (local.set $n (call $load_input))
    (call $log_utf8 (local.get $n) (i64.const 1024))
    (drop (call $storage_write (i64.const 1) (i64.const 0) (local.get $n) (i64.const 1024) (i64.const 1)))
    (call $panic_utf8 (local.get $n) (i64.const 1024)))

  ;; pay(): forwards the attached deposit to the account named by the input (a JSON string)
  (func (export "pay")
    (local $n i64)
    (local.set $n (call $load_input))
    (call $attached_deposit (i64.const 4000))
    (call $batch_transfer
      (call $batch_create (i64.sub (local.get $n) (i64.const 2)) (i64.const 1025))
      (i64.const 4000)))

  ;; yield(): yields to on_resume (20 Tgas), stores the data id under "yield", returns the callback's result
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

  ;; on_resume(): yield callback; returns the payload (logs "resumed") or "timeout" (logs "timeout")
  (func (export "on_resume")
    (if (i64.eq (call $promise_result (i64.const 0) (i64.const 4)) (i64.const 1))
      (then
        (call $log_utf8 (i64.const 7) (i64.const 96))
        (call $read_register (i64.const 4) (i64.const 3072))
        (call $value_return (call $register_len (i64.const 4)) (i64.const 3072)))
      (else
        (call $log_utf8 (i64.const 7) (i64.const 32))
        (call $value_return (i64.const 7) (i64.const 32)))))

  ;; call_get(): input = another contract (a JSON string); calls its get() then our on_get() and returns that result
  (func (export "call_get")
    (local $n i64)
    (local $p i64)
    (local.set $n (call $load_input))
    (local.set $p (call $promise_create (i64.sub (local.get $n) (i64.const 2)) (i64.const 1025) (i64.const 3) (i64.const 48)
                                        (i64.const 2) (i64.const 64) (i64.const 80) (i64.const 10000000000000)))
    (call $current_account_id (i64.const 5))
    (call $read_register (i64.const 5) (i64.const 4096))
    (call $promise_return
      (call $promise_then (local.get $p) (call $register_len (i64.const 5)) (i64.const 4096)
                          (i64.const 6) (i64.const 56) (i64.const 2) (i64.const 64) (i64.const 80)
                          (i64.const 10000000000000))))

  ;; on_get(): returns the result of the promise it depends on, or panics if that failed
  (func (export "on_get")
    (if (i64.eq (call $promise_result (i64.const 0) (i64.const 4)) (i64.const 1))
      (then
        (call $read_register (i64.const 4) (i64.const 3072))
        (call $value_return (call $register_len (i64.const 4)) (i64.const 3072)))
      (else (call $panic_utf8 (i64.const 6) (i64.const 56)))))
)
