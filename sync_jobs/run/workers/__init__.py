"""Worker processes: one run spread over ``engine.workers`` processes (issue 19).

The run's own process is the lead: it holds the job lease, refreshes the index, reads the
source (stage 1) and drains the queue as always. ``workers - 1`` helpers (forked from a fork
server that imported dealbridge once, see ``launch``; spawned where there is none; each with
its own interpreter, event loop, database engine and connector clients) commit the deals the
lead reads, in units it hands them (``pages``: mapping, matching and storing them is most of
stage 1; the job's cursor stays the lead's and advances in reading order), and claim and
write.
They hold no job lease: claims are exclusive and fenced by their token, so no customer is
worked by two processes and a helper whose claim was taken over cannot record its batch. They
start claiming at once in an incremental run (from stage 1's first committed page) and after
stage 1 in a backfill, and stop when the queue is empty and the lead's stage 1 is done; the
lead's own workers claim once its stage 1 is done (the run's serial part: writing beside it
would slow it). Each sends its counts, errors and previews to the lead, which adds them to
its run before recording it.

A helper that ends without a report (killed, crashed) is noticed when the lead's drain ends:
what it had claimed goes back to the queue at once and the lead drains again, so the run
still writes every customer, completes and says so in its notices.

Budgets: each process spends ``1/workers`` of the desk's shared budgets (``budget_shares``):
together they never exceed what the connector alone would spend. The lead alone reads the
source and the desk's identity export, and those budgets stay whole.

The parts, one job each:

- ``budgets``: how many processes a run may have and each one's share of the desk's budgets;
- ``messages``: what crosses between the processes (the helper's spec and its report);
- ``signals``: the cross-process events the lead raises and the helpers poll;
- ``team``: the lead's side: spawning the helpers, collecting and merging their reports,
  giving back a dead helper's claims;
- ``launch``: how helpers start (the fork server and what it imports first);
- ``pages``: stage 1's deals in units, committed by a helper or the lead, the cursor after;
- ``helper``: the helper process's entry point and its drain;
- ``lead``: a run's stage 2 with its team (``drain``), one team per desk (``team_size``).
"""

from sync_jobs.run.workers.budgets import MAX_WORKERS, budget_shares
from sync_jobs.run.workers.lead import drain, team_size
from sync_jobs.run.workers.messages import SpentBudget
from sync_jobs.run.workers.team import WorkerFailed

__all__ = ["MAX_WORKERS", "SpentBudget", "WorkerFailed", "budget_shares", "drain", "team_size"]
