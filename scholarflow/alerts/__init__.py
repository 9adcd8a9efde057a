"""Saved searches that alert: a search is saved once and matched against every new paper.

Stands on `search/` (a saved search is built by the same query builder) and `stores/`.

- `watches.py`: saved searches: a name, the words a user would type, and filters;
- `percolator.py`: the saved searches as stored queries, matched against a run's papers;
- `hits.py`: what each run found for each saved search.
"""
