"""What serves the flows: deployments, schedules and the local Prefect server.

- `deployments.py`: the deployments an operator runs, on schedules or from the UI;
- `server.py`: a local Prefect server (API + UI) for operators without Docker;
- `serve.py`: `scholarflow serve`, the whole service in one foreground command.
"""
