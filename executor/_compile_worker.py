"""`python -m executor._compile_worker ENGINE_JSON DEST < module.wasm`: see executor/_engine.py."""

import sys

from executor._engine import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
