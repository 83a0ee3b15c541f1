;; Adversarial: a reactor-style module without `_start`; must be rejected as invalid_module.
(module
  (memory (export "memory") 1)
  (func (export "run") (result i32) (i32.const 42)))
