"""What runs a flow: the machinery the flows in `flows/` share.

- `batches.py`: the decode + enrich task and the batches it receives and returns;
- `runners.py`: where that task runs: threads, processes or a Dask cluster, bounded;
- `heap.py`: garbage collection during a load;
- `observe.py`: live progress and structured log lines for an operator;
- `credentials.py`: engine credentials from the environment or a Prefect Secret block.
"""
