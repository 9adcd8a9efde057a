"""What of a paper is embedded, and the hash that names it.

A paper's passage is its titles (every language it has), then its abstracts, in that order, so
a window too small for everything keeps the titles whole. The hash covers the model, the window
and the text: the same text under the same model is the same vector, whichever paper, index or
run it comes from (the vector cache's key), and a paper whose text changed has a new hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

from scholarflow.embedding.model import MODEL_ID

# The fields a passage is made of, in order: a write that changes one of them must drop the
# paper's `embedding_info`, so the next embedding run embeds it again.
PASSAGE_FIELDS = ("title_en", "title_zh", "abstract_en", "abstract_zh")


def passage_text(doc: dict[str, Any]) -> str:
    """The paper's text as the model reads it ('' when it has none)."""
    return "\n".join(str(doc[name]).strip() for name in PASSAGE_FIELDS if doc.get(name)).strip()


def text_hash(text: str, max_tokens: int) -> str:
    """The name of (model, window, text): the vector cache's document id."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (MODEL_ID, str(max_tokens), text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()
