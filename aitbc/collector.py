"""Python's cyclic garbage collector, set for a long-running service process (the
ABCI app, the coordinator).

Per tx or request these processes allocate a few dozen container objects (decoded
txs, protobuf messages, records, events, request state) and keep tens of thousands
alive in bounded caches (the app's verified txs and check-state log). Almost none
are in reference cycles: reference counting frees them. With CPython's default
thresholds (700, 10, 10) the collector still runs every 700 allocations and, every
so often, walks everything alive. Measured with gc.callbacks in `make bench-quick`
runs: the app under a saturating load spent 8 % of its CPU in collections (1463 of
them in 15 s), 2.5 % with these settings; the coordinator during intake 4 %, under
1 % with them. Young collections every GEN0 allocations, older ones less often than
the default, find the same few cycles (errors kept with their tracebacks) for a few
MB more memory at most. What start-up made (imports, the store, genesis, the web app) never
becomes garbage, so it is taken out of the collector's sight with gc.freeze().
"""

from __future__ import annotations

import gc

GEN0 = 20_000   # allocations less deallocations of containers before a young collection
GEN1 = 20       # young collections before a middle one
GEN2 = 100      # middle collections before a full one (CPython also waits until a full
                # collection would meet 25 % more long-lived objects than the last one)


def tune() -> None:
    """Set the thresholds above and freeze what exists now; call once start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0, GEN1, GEN2)
