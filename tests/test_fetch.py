"""Fetching records from files, directories, globs, gzip and URLs, with their locations."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tasks.fetch import SourceError, batched, expand_sources, read_records
from tests.conftest import SEED_RECORDS
from tests.fixture_server import FixtureServer, Reply

RECORD = {"title": "蜘蛛研究", "doi": "10.1000/a"}


def write_three_line(path: Path, *records: dict) -> None:
    lines = []
    for record in records:
        lines += [json.dumps(record, ensure_ascii=False), "English title", "English abstract"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_three_line_text_carries_title_and_abstract_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    write_three_line(path, RECORD, {"title": "second"})
    records = list(read_records([path]))
    assert [r.location for r in records] == ["line 1", "line 4"]
    assert records[0].payload == RECORD
    assert records[0].extras == {"title_en": "English title", "abstract_en": "English abstract"}


@pytest.mark.parametrize("gzipped", [False, True])
def test_json_lines_and_gzip(tmp_path: Path, gzipped: bool) -> None:
    text = "\n".join(json.dumps({**RECORD, "n": i}) for i in range(3)) + "\n\n"
    path = tmp_path / ("a.jsonl.gz" if gzipped else "a.jsonl")
    path.write_bytes(gzip.compress(text.encode()) if gzipped else text.encode())
    records = list(read_records([path]))
    assert [r.payload["n"] for r in records] == [0, 1, 2]
    assert [r.location for r in records] == ["line 1", "line 2", "line 3"]


def test_json_array_and_object(tmp_path: Path) -> None:
    (tmp_path / "array.json").write_text(json.dumps([RECORD, RECORD, 5]))
    (tmp_path / "object.json.gz").write_bytes(gzip.compress(json.dumps(RECORD).encode()))
    array = list(read_records([tmp_path / "array.json"]))
    assert [r.location for r in array] == ["item 0", "item 1", "item 2"]
    assert array[2].error == "JSON int, expected an object"
    (single,) = list(read_records([tmp_path / "object.json.gz"]))
    assert single.payload == RECORD


def test_broken_lines_are_records_with_errors_not_exceptions(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"title": "ok"}\n{"title": "trunc\n[1, 2]\n\xff\xfe{}\n')
    records = list(read_records([path]))
    assert [r.location for r in records] == ["line 1", "line 2", "line 3", "line 4"]
    assert records[0].error is None
    assert records[1].error.startswith("invalid JSON")
    assert records[2].error == "JSON list, expected an object"
    # Bytes that are not UTF-8 are read as cp1252 (and flagged) rather than lost; here the
    # result is still not JSON, so the record carries that error.
    assert records[3].error.startswith("invalid JSON")
    assert records[3].flags == ["encoding_cp1252"]


def test_directories_are_walked_in_order_and_other_files_ignored(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write_three_line(tmp_path / "sub" / "b.txt", RECORD)
    write_three_line(tmp_path / "a.txt", RECORD)
    (tmp_path / "notes.md").write_text("not a record")
    assert [Path(s).name for s in expand_sources([tmp_path])] == ["a.txt", "b.txt"]


def test_globs(tmp_path: Path) -> None:
    for name in ("x1.txt", "x2.txt", "y.txt"):
        write_three_line(tmp_path / name, RECORD)
    assert [Path(s).name for s in expand_sources([str(tmp_path / "x*.txt")])] == [
        "x1.txt",
        "x2.txt",
    ]


def test_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.jsonl: no such file or directory"):
        list(expand_sources([tmp_path / "nope.jsonl"]))
    with pytest.raises(SourceError, match="no file matches"):
        list(expand_sources([str(tmp_path / "*.jsonl")]))


def test_urls_are_streamed(registry: FixtureServer) -> None:
    body = gzip.compress(b'{"title": "a"}\n{"title": "b"}')
    registry.route("/feed.jsonl.gz", Reply(200, body))
    records = list(read_records([f"{registry.url}/feed.jsonl.gz"]))
    assert [r.payload["title"] for r in records] == ["a", "b"]
    assert records[1].where == f"{registry.url}/feed.jsonl.gz:line 2"


def test_unreachable_url_is_a_source_error(registry: FixtureServer) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        list(read_records([f"{registry.url}/missing.jsonl"]))


def test_every_seed_format_is_read() -> None:
    records = list(read_records([SEED_RECORDS]))
    manifest = json.loads((SEED_RECORDS.parent / "MANIFEST.json").read_text(encoding="utf-8"))
    assert len(records) == len(manifest) >= 31
    assert all(r.error is None for r in records)
    suffixes = {Path(r.source).name.split(".", 1)[1] for r in records}
    assert suffixes == {"txt", "jsonl", "jsonl.gz", "json"}


def test_batched_streams_fixed_sizes(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps({"n": i}) for i in range(7)))
    assert [len(b) for b in batched(read_records([path]), 3)] == [3, 3, 1]
