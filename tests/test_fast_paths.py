"""The fast paths of text cleaning and line parsing give exactly what the general path gives."""

from __future__ import annotations

import gc
import html
import json
import re
import sys
import unicodedata
import weakref
from collections import Counter

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.running.heap import COLLECT_EVERY_BATCHES, batch_heap, load_heap
from scholarflow.paper.coerce import _BLANKS, blank_to_none
from scholarflow.paper.models import RawRecord
from scholarflow.paper.text import (
    _HAN,
    _INVISIBLE,
    _MARKUP,
    _NEWLINES,
    _SPACES,
    clean_text,
    html_to_text,
    is_chinese,
    may_have_han,
    repair_mojibake,
)
from tasks.fetch import _line_record, _LineDecoder, _parse_object, _undecodable


def reference_clean_text(value: str | None) -> str | None:
    """clean_text without any shortcut: every step, always."""
    if value is None:
        return None
    text = html_to_text(value) if _MARKUP.search(value) else value
    text = unicodedata.normalize("NFKC", repair_mojibake(text))
    text = _INVISIBLE.sub("", text)
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip() or None


def reference_is_chinese(text: str) -> bool:
    han = len(_HAN.findall(text))
    return han > 0 and han >= len(re.findall(r"[A-Za-z]{2,}", text))


PIECES = st.sampled_from(
    [
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\u00a0",
        "\u3000",
        "\u200b",
        "\ufeff",
        "\x07",
        "a",
        "Ab",
        "μL",
        "红斑",
        "紅斑",
        "⼀",
        "㊀",
        "ﬁ",
        "&amp;",
        "&#x4e00;",
        "&amp;#20013;",
        "<p>",
        "</p>",
        "<sup>2</sup>",
        "<br>",
        "x",
        ".",
        "åˆ©å¦¥",
        "cafÃ©",
        "N/A",
        "无",
    ]
)
TEXTS = st.lists(PIECES, max_size=30).map("".join) | st.text(max_size=60)


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_clean_text_matches_the_general_path(text: str) -> None:
    assert clean_text(text) == reference_clean_text(text)


def reference_blank_to_none(value: str) -> str | None:
    stripped = unicodedata.normalize("NFKC", repair_mojibake(value)).strip()
    return None if stripped.lower() in _BLANKS else stripped


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_blank_to_none_matches_the_general_path(text: str) -> None:
    assert blank_to_none(text) == reference_blank_to_none(text)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_is_chinese_matches_the_general_path(text: str) -> None:
    assert is_chinese(text) == reference_is_chinese(text)


@settings(max_examples=600, deadline=None)
@given(TEXTS)
def test_may_have_han_never_misses_han_after_cleaning(text: str) -> None:
    cleaned = clean_text(text)
    if cleaned and _HAN.search(cleaned):
        assert may_have_han(text)


def test_may_have_han_covers_every_character_that_folds_into_han() -> None:
    missed = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF
        and _HAN.search(unicodedata.normalize("NFKC", chr(code)))
        and not may_have_han(chr(code))
    ]
    assert missed == []
    assert may_have_han("&#20013;") and may_have_han(html.escape("&#20013;"))  # 中, escaped twice
    assert not may_have_han("Leukopenia in SLE (375 mg/m2, 50/μL)")


LINE_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=6,
)
LINE_PREFIXES = st.sampled_from([b"", b"\xef\xbb\xbf", b" ", b"\xff", b"\x00"])
LINE_INSERTS = st.sampled_from([b"", b"\t", b"\x01", b"\xc3\xa9", b"\xe9", b"\\ud800"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), LINE_VALUES, max_size=4), LINE_PREFIXES, LINE_INSERTS)
def test_a_line_parsed_from_its_bytes_reads_as_the_careful_path_reads_it(
    value: dict, prefix: bytes, insert: bytes
) -> None:
    """Lines are parsed straight from their bytes; whatever that parse refuses (a byte-order
    mark, bytes that are not UTF-8, raw control characters) is read the careful way."""
    body = json.dumps(value, ensure_ascii=False).encode()
    line = prefix + (body[:-1] + b',"x":"' + insert + b'"}' if value else body)
    fast = _line_record("s.jsonl", "line 1", line, _LineDecoder())
    careful = _careful_record("s.jsonl", "line 1", line)
    assert (fast.payload, fast.error, fast.flags) == (careful.payload, careful.error, careful.flags)


def _careful_record(source: str, location: str, line: bytes) -> RawRecord:
    text, encoding, problem = _LineDecoder().decode(line)
    if text is None:
        return _undecodable(source, location, line, problem)
    record = _parse_object(source, location, text)
    if encoding:
        record.flags.append(f"encoding_{encoding}")
    return record


def test_a_load_collects_cycles_every_few_batches_and_restores_the_collector() -> None:
    class Node:
        pass

    assert gc.isenabled()
    with load_heap() as collect_garbage:
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        alive = weakref.ref(cycle)
        del cycle
        for _ in range(COLLECT_EVERY_BATCHES - 1):
            collect_garbage()
        assert alive() is not None  # only reference counting between collections
        collect_garbage()
        assert alive() is None
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_worker_prepares_a_batch_with_the_collector_off_and_collects_after() -> None:
    """In a worker process a batch is prepared with the heap frozen and collection off, and
    its cycles collected once it is done; in the load's own process (collection off already)
    the batch leaves the collector alone."""

    class Node:
        pass

    with batch_heap():
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        alive = weakref.ref(cycle)
        del cycle
        assert alive() is not None
    assert alive() is None
    assert gc.isenabled() and gc.get_freeze_count() == 0

    with load_heap():
        frozen = gc.get_freeze_count()
        young = [[] for _ in range(1000)]  # tracked objects that a second freeze would take in
        # Frozen objects that another thread drops leave the count lower: a freeze only raises it.
        with batch_heap():
            assert not gc.isenabled() and gc.get_freeze_count() <= frozen
        assert not gc.isenabled() and gc.get_freeze_count() <= frozen  # the load's, untouched
        assert len(young) == 1000


def test_a_batch_shipped_to_a_worker_decodes_as_the_runs_own_copy(tmp_path) -> None:
    """Through the runners' cloudpickle, as a process pool or Dask worker receives it: records
    parsed from a JSON line travel as that line and are parsed again, unparsed ones whole; the
    batch decodes as the run's own copy does, and what comes back (the prepared batch) equals
    what was sent."""
    import cloudpickle

    from flows.running.batches import Batch, PreparedBatch
    from scholarflow.paper.models import LookupStats
    from tasks.decode import decode_records
    from tasks.documents import prepare_documents
    from tasks.fetch import read_records
    from tests.conftest import SEED_RECORDS

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"title": "truncated\n')
    records = list(read_records([str(SEED_RECORDS), str(bad)]))
    lines = [r for r in records if r.line is not None]
    assert lines and all(r.payload == orjson.loads(r.line) for r in lines)
    sent = cloudpickle.dumps(Batch([records[:9], records[9:]]))
    assert all(r.line in sent for r in lines)  # the line's own bytes, not the objects
    first, second = cloudpickle.loads(sent).parts
    shipped = first + second
    assert [(r.source, r.location) for r in shipped] == [(r.source, r.location) for r in records]
    assert [r.payload for r in shipped] == [r.payload for r in records]
    unparsed = [r for r in shipped if r.payload is None]
    assert unparsed and all(r.raw for r in unparsed)
    papers, rejections = decode_records(shipped)
    assert (papers, rejections) == decode_records(records)

    documents = prepare_documents([p for p in papers if p.doi], "run-1")
    loose = [p for p in papers if not p.doi]
    assert documents.items and loose
    counts, matching = Counter({"no_doi": 2}), Counter({"deferred": 1})
    lookups = LookupStats(lookups=3)
    seconds = {"decode": 0.5}
    prepared = PreparedBatch(documents, loose, rejections, lookups, counts, matching, seconds)
    back = cloudpickle.loads(cloudpickle.dumps(prepared))
    assert (
        back.documents,
        back.loose,
        back.rejections,
        back.lookups,
        back.enrichment,
        back.doi_matching,
        back.seconds,
    ) == (documents, loose, rejections, lookups, counts, matching, seconds)
