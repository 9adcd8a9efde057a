"""Property tests: random mutations of the seed record never make the decoder raise, and every
record ends in exactly one outcome, down to the engine."""

from __future__ import annotations

import json
from typing import Any

import orjson
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scholarflow.paper.models import Outcome, Paper, RawRecord, Rejection
from scholarflow.stores.indices import ensure_live_index
from tasks.decode import decode_record, decode_records
from tasks.fetch import reparse
from tasks.index import index_papers
from tests.conftest import SEED_RECORDS

SEED_LINES = (SEED_RECORDS / "000_a3a9f962eae85f56.txt").read_text("utf-8").splitlines()
SEED = json.loads(SEED_LINES[0])
KEYS = [*SEED, "TitleCN", "AbstractTextCN", "EPubDate", "JCR", "JCRName", "platform"]

hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60
) | st.sampled_from(
    [
        "",
        " ",
        "N/A",
        "1,234",
        "99999999999",
        "-1",
        "1e309",
        "NaN",
        "2025-02-30",
        "Sep 17, 2025",
        "doi:10.1000/ABC.",
        "https://doi.org/10.1080/25785826.2025.2563427",
        "<p><p>a &amp; b</p>",
        "<script>x</script>",
        "\u200b",
        "\x00",
        "ＡＢＣ１２３",
        "naÃ¯ve",
        "系統性紅斑狼瘡",
        "Li Wei、Zhang San",
    ]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutated_payload(draw: st.DrawFn) -> dict[str, Any]:
    payload = json.loads(json.dumps(SEED))
    for _ in range(draw(st.integers(1, 6))):
        key = draw(st.sampled_from(KEYS))
        action = draw(st.sampled_from(["delete", "replace", "insert", "result_str", "number"]))
        if action == "delete":
            payload.pop(key, None)
        elif action == "replace":
            payload[key] = draw(json_values)
        elif action == "insert" and isinstance(payload.get(key), str):
            text = payload[key]
            at = draw(st.integers(0, len(text)))
            payload[key] = text[:at] + draw(hostile_text) + text[at:]
        elif action == "number":  # out-of-range numbers: values the mapping may refuse
            payload[draw(st.sampled_from(["citationCount", "PeriodicalIF"]))] = draw(
                st.sampled_from([2**40, "99999999999", 1e300, "1e309", -5, "3.5e38", 0.5])
            )
        elif action == "result_str":
            inner = payload.get("resultStr")
            if isinstance(inner, str) and inner:
                cut = draw(st.integers(0, len(inner)))
                payload["resultStr"] = draw(
                    st.sampled_from([inner[:cut], inner[cut:], json.dumps(draw(json_values))])
                )
            else:
                payload["resultStr"] = draw(json_values)
    return payload


def assert_clean_outcome(result: Paper | Rejection) -> None:
    assert isinstance(result, Paper | Rejection)
    if isinstance(result, Rejection):
        assert not result.reason.startswith("decoder error"), (result.reason, result.detail)
    else:
        orjson.dumps(result.model_dump(mode="json"))  # what the index stage will send


@given(st.lists(mutated_payload(), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_mutated_seed_records_never_raise_and_each_gets_one_outcome(
    payloads: list[dict[str, Any]],
) -> None:
    records = [
        RawRecord("mutants.jsonl", f"line {n}", payload=p, extras={"title_en": SEED_LINES[1]})
        for n, p in enumerate(payloads, start=1)
    ]
    for record in records:
        assert_clean_outcome(decode_record(record))
    papers, rejections = decode_records(records)
    assert len(papers) + len(rejections) == len(records)
    seen = [p.provenance[0].location for p in papers] + [r.location for r in rejections]
    assert sorted(seen) == sorted(r.location for r in records)


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_byte_level_mutations_of_the_seed_line_never_raise(data: st.DataObject) -> None:
    line = bytearray(SEED_LINES[0].encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["truncate", "insert", "flip", "delete"]))
        at = data.draw(st.integers(0, len(line)))
        if action == "truncate":
            del line[at:]
        elif action == "insert":
            line[at:at] = data.draw(st.binary(min_size=1, max_size=6))
        elif action == "flip" and at < len(line):
            line[at] ^= data.draw(st.integers(1, 255))
        elif action == "delete":
            del line[at : at + data.draw(st.integers(1, 20))]
    (record,) = reparse("mutants.jsonl", "line 1", bytes(line), {})
    assert_clean_outcome(decode_record(record))


@given(st.lists(mutated_payload(), min_size=1, max_size=6))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_mutated_records_are_accounted_for_by_the_engine(
    es: Elasticsearch, payloads: list[dict[str, Any]]
) -> None:
    """Down to the bulk write: what the engine refuses is rejected, nothing vanishes."""
    index = ensure_live_index(es, "papers")
    records = [
        RawRecord("mutants.jsonl", f"line {n}", payload=p) for n, p in enumerate(payloads, 1)
    ]
    papers, rejections = decode_records(records)
    result = index_papers(es, index, papers, run_id="property")
    outcomes = result.outcomes
    assert sum(outcomes[o] for o in (Outcome.INDEXED, Outcome.MERGED, Outcome.UNCHANGED)) + len(
        result.rejections
    ) == len(papers)
    assert outcomes[Outcome.REJECTED] == 0  # index rejections are listed, and counted by the flow
    assert len(papers) + len(rejections) == len(records)
