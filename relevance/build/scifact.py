"""Build `relevance/sets/scifact-train/` from public SciFact files: the 5,183 abstracts and the
809 **train** claims with BEIR's train judgments (`qrels/train.tsv`). The test claims are never
read.

Inputs (relevance/sets/scifact-train/README.md names their repositories and commits):
- `scifact.zip`: holds `corpus_train.csv` (`doc_id,title,abstract,structured`; the abstract is
  the list of its sentences as written by numpy, e.g. `['First.'\\n 'Second.']`);
- `queries.jsonl` and `train.tsv`: BEIR's SciFact queries (train and test claims; only those
  named by the train judgments are kept) and train judgments.

    python relevance/build/scifact.py scifact.zip queries.jsonl train.tsv [--out DIR]

The abstract is its sentences, each stripped, joined by one space: BEIR's text of the same
abstracts, character for character. The output is byte-for-byte reproducible (gzip without a
timestamp).
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import io
import json
import re
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "sets" / "scifact-train"
GROUP = "en-claims"
# A Python string literal as numpy prints a list of strings: '…' or "…", escapes kept.
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)


def sentences(cell: str) -> list[str]:
    """`['A.'\\n 'B.']` → `['A.', 'B.']`; anything but literals and spaces is an error."""
    found = _LITERAL.findall(cell)
    left = _LITERAL.sub("", cell).strip()
    if not (left.startswith("[") and left.endswith("]")) or left[1:-1].strip():
        raise ValueError(f"not a list of sentences: {cell[:80]!r}")
    return [ast.literal_eval(literal).strip() for literal in found]


def corpus(archive: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(archive) as bundle, bundle.open("corpus_train.csv") as raw:
        rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        return [
            {
                "id": row["doc_id"],
                "title": row["title"],
                "abstract": " ".join(sentences(row["abstract"])),
            }
            for row in rows
        ]


def judged(queries: Path, qrels: Path) -> list[dict[str, object]]:
    relevant: dict[str, dict[str, int]] = {}
    with qrels.open(encoding="utf-8") as lines:
        header = next(lines).split()
        if header != ["query-id", "corpus-id", "score"]:
            raise ValueError(f"{qrels}: not a BEIR qrels file ({header})")
        for line in lines:
            query, doc, score = line.split()
            if int(score) > 0:
                relevant.setdefault(query, {})[doc] = int(score)
    texts = {}
    with queries.open(encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            texts[entry["_id"]] = entry["text"]
    return [
        {"id": qid, "query": texts[qid], "group": GROUP, "relevant": relevant[qid]}
        for qid in sorted(relevant, key=int)
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("queries", type=Path)
    parser.add_argument("qrels", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    papers = corpus(args.archive)
    queries = judged(args.queries, args.qrels)
    ids = {paper["id"] for paper in papers}
    missing = {doc for q in queries for doc in q["relevant"] if doc not in ids}  # type: ignore[attr-defined]
    if len(ids) != len(papers) or missing:
        raise SystemExit(f"corpus ids not unique, or judged papers missing: {sorted(missing)[:5]}")
    args.out.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in papers).encode()
    with (
        (args.out / "corpus.jsonl.gz").open("wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz,
    ):
        gz.write(lines)
    (args.out / "queries.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), encoding="utf-8"
    )
    judgments = sum(len(q["relevant"]) for q in queries)  # type: ignore[arg-type]
    print(f"{len(papers)} papers, {len(queries)} claims, {judgments} judgments → {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
