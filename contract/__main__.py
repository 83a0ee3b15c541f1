"""`python -m contract SOURCE.py OUT.wasm`: build one contract (used by `make contract`)."""

import sys

from contract.build import main

raise SystemExit(main(sys.argv[1:]))
