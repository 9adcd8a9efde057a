"""The indices a run writes, and the one way it writes them.

Stands on `engine/` (the one client) and `paper/`; `embedding/`, `registry/`, `search/` and
`alerts/` write through it.

- `templates.py`: what the engine receives for the paper indices: the index and component
  templates and the analysis profiles of `index_mappings/`, and every store's mappings file;
- `indices.py`: versioned paper indices behind an alias, built from those templates; one
  race-safe `ensure_index` for every store;
- `layout.py`: shards and replicas of a new paper index on this cluster, and the health the
  alias waits for before it moves;
- `paging.py`: every document a query matches, page by page, surviving a node lost part-way;
- `vector_mapping.py`: which vector field the paper indices get on this engine;
- `bulk.py`: the one bulk policy: byte-sized chunks, only transient refusals sent again;
- `writer.py`: the writer run: one client, the lock, the writes and the accounting of a run;
- `lock.py`: the writer lock: one run at a time writes behind an alias;
- `deadletters.py`: every rejected record, with its reason and what the source held;
- `read_files.py`: the files a run has already read completely, so a scheduled run skips them;
- `ingest_origins.py`: every path, glob or URL an alias was ingested from, for a replay;
- `harvest_sources.py`: the configured harvest sources and how far each has been harvested;
- `engine_migration.py`: the fallback engine's data carried into a real engine.
"""
