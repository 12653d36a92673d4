"""``python -m benchmarks`` runs every benchmark in turn."""

from __future__ import annotations

import importlib
import sys

MODULES = [
    "bench_batch",
    "bench_aql",
    "bench_cluster",
    "bench_vectors",
    "bench_transactions",
    "bench_rebalance",
]


def main() -> None:
    """Run the named benchmarks, or all of them."""
    for name in sys.argv[1:] or MODULES:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()


main()
