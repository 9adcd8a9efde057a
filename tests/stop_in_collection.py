"""`scholarflow serve` that sends itself SIGTERM from inside a garbage-collector callback, where
Python ignores any exception a signal handler raises: the stop request must survive that.

Usage: python -m tests.stop_in_collection API_URL N, N counting the main thread's collections
after serve says it is ready (handlers run only on the main thread).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
from typing import Any

from flows.serving.serve import run_serve
from scholarflow.settings import get_settings

SENT = "SIGTERM sent from a collection"


def main(api_url: str, after: int) -> None:
    seen = 0

    def deliver(phase: str, info: dict[str, Any]) -> None:
        nonlocal seen
        if phase != "start" or threading.current_thread() is not threading.main_thread():
            return
        seen += 1
        if seen == after:
            gc.callbacks.remove(deliver)
            print(SENT, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(10_000))  # the handler runs here, inside the callback

    def say(line: str) -> None:
        print(line, flush=True)
        if line.startswith("press Ctrl-C"):
            gc.callbacks.append(deliver)

    run_serve(get_settings(), port=0, api_url=api_url, say=say)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
