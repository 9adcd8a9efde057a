"""Build the judged set `relevance/sets/csl-dev/` from the CSL benchmark (ydli-ai/CSL).

CSL's benchmark keeps one paper per line in several task files; the same 1,000 development papers
appear in `ts/dev.tsv` (abstract → title) and `kg/dev.tsv` (abstract + title → author keywords),
in the same order. Joined, they give title, abstract and author keywords. No test file is read.
The corpus holds these papers only: CSL's other train files carry titles alone, and papers
without an abstract, whose keywords are unknown, would be judged not relevant to queries they
answer (their short titles rank first for any word they hold).

Queries (grade 1 for each relevant paper):
- `zh-keywords`: one author keyword (Simplified); relevant: every paper whose authors gave it.
  1,000 keywords of two characters or more, picked by a hash of the keyword (reproducible);
- `zh-hant-keywords`: the same keywords converted to Traditional with OpenCC (`s2t`);
- `zh-keyword-list`: a paper's author keywords, space-separated; relevant: that paper;
- `zh-known-item`: a paper's title; relevant: that paper.

    git clone https://github.com/ydli-ai/CSL && git -C CSL checkout 0f1ac06
    python relevance/build/csl_dev.py CSL relevance/sets/csl-dev
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import opencc

KEYWORD_QUERIES = 1000


def rows(path: Path) -> list[list[str]]:
    """The tab-separated lines of one benchmark file (prompt, input, output)."""
    with path.open(encoding="utf-8") as lines:
        return [line.rstrip("\n").split("\t") for line in lines if line.strip()]


def build(csl: Path, out: Path) -> None:
    bench = csl / "benchmark"
    titles = rows(bench / "ts" / "dev.tsv")
    keywords = rows(bench / "kg" / "dev.tsv")
    if len(titles) != len(keywords):
        raise SystemExit("ts/dev.tsv and kg/dev.tsv differ in length")
    to_traditional = opencc.OpenCC("s2t")
    corpus: list[dict[str, object]] = []
    queries: list[dict[str, object]] = []
    seen_titles: set[str] = set()
    tagged: dict[str, list[str]] = defaultdict(list)
    for n, ((_, abstract, title), (_, paper_text, kws)) in enumerate(
        zip(titles, keywords, strict=True), 1
    ):
        if not paper_text.endswith(title) or title in seen_titles:
            continue  # misaligned or a repeated title: not a paper a query can name alone
        seen_titles.add(title)
        doc_id = f"csl-dev-{n:04d}"
        words = [w.strip() for w in kws.split("_") if w.strip()]
        corpus.append({"id": doc_id, "title": title, "abstract": abstract, "keywords": words})
        for word in dict.fromkeys(words):
            tagged[word].append(doc_id)
        relevant = {doc_id: 1}
        queries.append(
            {
                "id": f"kw-list-{n:04d}",
                "query": " ".join(words),
                "group": "zh-keyword-list",
                "relevant": relevant,
            }
        )
        queries.append(
            {"id": f"title-{n:04d}", "query": title, "group": "zh-known-item", "relevant": relevant}
        )
    picked = sorted(
        (word for word in tagged if len(word) >= 2),
        key=lambda word: hashlib.sha256(word.encode()).hexdigest(),
    )[:KEYWORD_QUERIES]
    for n, word in enumerate(sorted(picked), 1):
        relevant = {doc_id: 1 for doc_id in tagged[word]}
        queries.append(
            {"id": f"kw-{n:04d}", "query": word, "group": "zh-keywords", "relevant": relevant}
        )
        queries.append(
            {
                "id": f"kw-hant-{n:04d}",
                "query": to_traditional.convert(word),
                "group": "zh-hant-keywords",
                "relevant": relevant,
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, items in (("corpus.jsonl", corpus), ("queries.jsonl", queries)):
        with (out / name).open("w", encoding="utf-8") as file:
            for item in items:
                file.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"{len(corpus)} papers, {len(queries)} queries → {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: csl_dev.py CSL_CHECKOUT OUT_DIR")
    build(Path(sys.argv[1]), Path(sys.argv[2]))
