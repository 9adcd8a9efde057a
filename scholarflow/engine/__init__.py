"""The embedded engine: a search engine Scholarflow runs itself when no cluster URL is set.

One engine per home directory, shared by concurrent commands: the first command that needs it
starts it in the background and records its pid and URL under `<home>/engine/`; later commands
reuse it. Two kinds exist:

- opensearch.py: the default, a real single-node OpenSearch (Lucene) built by Maven from the
  `engine/` module of the repository and run on Java 17+. Durable by itself.
- osmem.py: the fallback for a machine without Java, the in-memory `osmem-server` test double.
  Its data lives in memory; commands that write snapshot it (`persist()`).
- lifecycle.py: what both share: choosing the kind, starting, status, stopping; one node, or
  a local cluster of several (cluster.py: their ports, names, settings and health).
- process.py: a node as a child process, waited for until it serves.
- leases.py: the one index the engine knows by name (writer-lock leases end with a restart).
- client.py: the one Elasticsearch client Scholarflow uses, for every engine, one per run.
- transport.py: the HTTP node under that client, so that it speaks to every engine.

Stands on `settings`, `errors`, `redact` and `run_scoped` alone; every room that talks to an
engine imports it.
"""

from scholarflow.engine.lifecycle import (
    EmbeddedEngine,
    EngineKind,
    EngineStartError,
    EngineState,
    embedded_engine,
)
from scholarflow.engine.osmem import PersistError

__all__ = [
    "EmbeddedEngine",
    "EngineKind",
    "EngineStartError",
    "EngineState",
    "PersistError",
    "embedded_engine",
]
