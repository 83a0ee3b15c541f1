"""devnet.vm: run NEAR contract WASM under wasmtime with nearcore's host functions.

`load_contract` compiles and validates a contract once (cached by sha256); `execute` runs one method
call against the node's state and returns an `Outcome` (see `devnet.vm.types`, the seam with the node).
"""

from devnet.vm._engine import HOST_FUNCTIONS, CompiledContract, load_contract
from devnet.vm._host import yield_data_id
from devnet.vm._runner import execute
from devnet.vm.config import DEFAULT_CONFIG, VMConfig
from devnet.vm.errors import ContractLoadError, VMError

__all__ = [
    "DEFAULT_CONFIG",
    "HOST_FUNCTIONS",
    "CompiledContract",
    "ContractLoadError",
    "VMConfig",
    "VMError",
    "execute",
    "load_contract",
    "yield_data_id",
]
