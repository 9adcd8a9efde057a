"""Prefect flows that compose the stages in `tasks/`: what a flow is.

- `ingest.py`: fetch → decode → enrich → index, incrementally, with saved-search alerts;
- `harvest.py`: a configured source's changes since its last complete window (OAI-PMH,
  Crossref, OpenAlex) through the ingest's path, and the deletions it announced;
- `reindex.py`: a new index built beside the live one, verified, then the alias moved;
- `replay.py`: dead letters decoded again and indexed;
- `reenrich.py`: papers whose DOI answers are due looked up again;
- `embed.py`: vectors for the papers that lack them;
- `judged_sets.py`: a judged set ingested into a throw-away alias (the ingest run, plain calls)
  and measured beside the textbook BM25 anchor (`scholarflow eval --set`).

`running/` holds what runs a flow (batches, runners, progress), `serving/` what serves them
(deployments, the local Prefect server).
"""
