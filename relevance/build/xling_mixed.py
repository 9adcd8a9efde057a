"""Build the mixed cross-lingual measurement set (docs/translation.md, "Measured"): the 1,015
papers and 81 queries of `relevance/sets/csl-xling-dev`, plus 300 English SciFact abstracts of
`relevance/sets/scifact-train` (the papers judged relevant for 100 train claims drawn at random,
seed 26, and others drawn to make 300) and those 100 train claims. It shows what cross-lingual
search does to English queries on an index where English papers and Chinese-only papers live
together. Written to a folder of your choice (not kept in the repository: every line comes from
the two sets, whose READMEs give provenance and licences), then measured with
`scholarflow eval --set FOLDER --embed`.

    python relevance/build/xling_mixed.py relevance/sets OUT_FOLDER
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

SEED = 26
CLAIMS = 100
ENGLISH_PAPERS = 300


def main(sets: Path, out: Path) -> None:
    scifact, xling = sets / "scifact-train", sets / "csl-xling-dev"
    claims = [json.loads(line) for line in (scifact / "queries.jsonl").open(encoding="utf-8")]
    random.seed(SEED)
    chosen = random.sample(claims, CLAIMS)
    relevant = {doc for claim in chosen for doc in claim["relevant"]}
    with gzip.open(scifact / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        corpus = [json.loads(line) for line in lines]
    others = [paper for paper in corpus if str(paper["id"]) not in relevant]
    english = [paper for paper in corpus if str(paper["id"]) in relevant]
    english += random.sample(others, ENGLISH_PAPERS - len(relevant))
    out.mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as written:
        written.write((xling / "corpus.jsonl").read_text(encoding="utf-8"))
        for paper in english:
            written.write(json.dumps(paper, ensure_ascii=False) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as written:
        for claim in chosen:
            written.write(json.dumps(claim) + "\n")
        written.write((xling / "queries.jsonl").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
