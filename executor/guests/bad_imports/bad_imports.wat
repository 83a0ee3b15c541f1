;; Adversarial: imports a host function outside WASI preview 1; must be rejected as bad_imports.
(module
  (import "env" "read_host_file" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $read (i32.const 0) (i32.const 0)))))
