"""Statistics of a JSON list of numbers with numpy: JSON in on stdin, JSON out on stdout."""

import json
import sys

import numpy as np

from stats_format import rounded

data = json.load(sys.stdin)
values = np.asarray(data["values"] if isinstance(data, dict) else data, dtype=float)
if values.size == 0:
    sys.exit("no values")
result = {
    "count": int(values.size),
    "mean": float(values.mean()),
    "median": float(np.median(values)),
    "std": float(values.std()),
    "min": float(values.min()),
    "max": float(values.max()),
    "p90": float(np.percentile(values, 90)),
}
print(json.dumps(rounded(result, 6), sort_keys=True))
