"""What every component shares and nothing else: the error root and the retry schedule.

It imports nothing of ours, so every component may import it (executor, devnet and schemas included)
without a cycle.
"""

from common.errors import OffshoreError
from common.retry import Backoff

__all__ = ["Backoff", "OffshoreError"]
