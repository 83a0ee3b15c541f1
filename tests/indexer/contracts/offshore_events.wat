;; A hand-written stand-in for the offshore contract's event logging (no toolchain: wasmtime.wat2wasm).
;; The input is the NEP-297 envelope; "EVENT_JSON:" sits just below the input buffer (1013..1024),
;; so prefix + input form one contiguous log line.
(module
  (import "env" "input" (func $input (param i64)))
  (import "env" "read_register" (func $read_register (param i64 i64)))
  (import "env" "register_len" (func $register_len (param i64) (result i64)))
  (import "env" "log_utf8" (func $log_utf8 (param i64 i64)))
  (import "env" "panic_utf8" (func $panic_utf8 (param i64 i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "offshore: request accepted")
  (data (i32.const 32) "rolled back")
  (data (i32.const 1013) "EVENT_JSON:")

  ;; reads the input into 1024, returns its length
  (func $load_input (result i64)
    (call $input (i64.const 0))
    (call $read_register (i64.const 0) (i64.const 1024))
    (call $register_len (i64.const 0)))

  ;; emit(): a plain log line (index 0), then "EVENT_JSON:" + input (index 1)
  (func (export "emit")
    (local $n i64)
    (local.set $n (call $load_input))
    (call $log_utf8 (i64.const 26) (i64.const 0))
    (call $log_utf8 (i64.add (local.get $n) (i64.const 11)) (i64.const 1013)))

  ;; emit_and_fail(): logs "EVENT_JSON:" + input, then panics: the receipt fails and its log must not count
  (func (export "emit_and_fail")
    (local $n i64)
    (local.set $n (call $load_input))
    (call $log_utf8 (i64.add (local.get $n) (i64.const 11)) (i64.const 1013))
    (call $panic_utf8 (i64.const 11) (i64.const 32))))
