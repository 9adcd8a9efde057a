"""Scholarflow: scholarly records in, a bilingual search index out.

The core that `tasks/` (the stages) and `flows/` (the orchestration) share, one room a concern.
From the ground up (a room imports only rooms listed before it):

- `errors.py`, `redact.py`, `package_data.py`: the one exception tree, what never reaches a log,
  where the files Scholarflow reads live;
- `settings.py`: every `SCHOLARFLOW_*` setting, read once;
- `run_scoped.py`: what one run keeps per process (its client, its breaker), bounded;
- `paper/`: what a paper is: the models, decoding's clean-up, DOIs, names, merging, duplicates,
  corrections, moves to a DOI;
- `engine/`: the engine and the one client that speaks to it;
- `stores/`: the indices a run writes and how: mappings, the bulk policy, the writer run, the
  lock, the dead letters, the files read and the paths ingested;
- `embedding/`: vectors for cross-lingual search;
- `registry/`: DOI lookups (Crossref, doi.org), rate-limited, retried and cached;
- `search/`: the query builder, ranking, hybrid search, and measured relevance;
- `alerts/`: saved searches, the percolator, what each run found for them;
- `status.py`: what an operator checks first about a live index; it reads every room.

Nothing in the core imports `tasks/`, `flows/` or `cli/`, and no Prefect.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scholarflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
