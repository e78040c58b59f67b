"""Imported last by the fork server (``launch.PRELOAD``): its one job is to freeze the heap
the server's imports built, so every helper forked from the server starts with that heap in
the collector's permanent generation.

Without it, a helper's first step, ``tune_collector``, ran a full collection over the whole
inherited heap (the imported modules, SQLAlchemy's and pydantic's structures): about 0.2 s
of CPU a helper in a 10,000-deal backfill (py-spy), and the collector's writes to each
object's header made the kernel copy pages the helper would otherwise share with the server.
The Python documentation advises the same for a process that forks without exec:
``gc.freeze()`` just before the fork.
"""

from __future__ import annotations

import gc

gc.collect()  # what is garbage already is not frozen
gc.freeze()
