"""The OpenAlex decoder on a real recorded work: the API's answer for W2741809807 (2022, when
works still had `host_venue`), as recorded in a public repository's test data
(tests/fixtures/harvest/README.md), read from a gzip JSON Lines snapshot part by the connector,
its abstract rebuilt from all 258 positions of its `abstract_inverted_index`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from scholarflow.paper.models import Paper, RawRecord
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import new_source
from tasks.decode import decode_record
from tasks.harvest import Harvest
from tasks.harvest.http import HarvestHttp
from tasks.harvest.openalex import OpenAlexWorks

WORK = Path(__file__).parent / "fixtures" / "harvest" / "openalex"
RECORDED = WORK / "cs3991_api_work_W2741809807.json"


def _snapshot_records(root: Path) -> list[RawRecord]:
    folder = root / "data" / "works" / "updated_date=2022-05-27"
    folder.mkdir(parents=True)
    line = json.dumps(json.loads(RECORDED.read_text("utf-8")), ensure_ascii=False)
    with gzip.open(folder / "part_000.gz", "wt", encoding="utf-8") as part:
        part.write(line + "\n")
    settings = Settings(_env_file=None)
    works = OpenAlexWorks(new_source("oa", "openalex", str(root)), HarvestHttp(settings), settings)
    (window,) = works.windows(full=False, until=None)
    return list(works.records(Harvest(window)))


def test_the_recorded_work_decodes_with_its_whole_abstract(tmp_path: Path) -> None:
    (record,) = _snapshot_records(tmp_path)
    assert record.error is None and record.location.endswith("part_000.gz:line 1")
    paper = decode_record(record)
    assert isinstance(paper, Paper), paper
    assert paper.doi == "10.7717/peerj.4375"
    assert paper.title_en == (
        "The state of OA: a large-scale analysis of the prevalence and impact of Open Access "
        "articles"
    )
    index = json.loads(RECORDED.read_text("utf-8"))["abstract_inverted_index"]
    words = len({p for positions in index.values() for p in positions})
    assert words == 258
    abstract = paper.abstract_en or ""
    assert abstract.startswith("Despite growing interest in Open Access (OA) to scholarly")
    assert abstract.endswith("as a way to inform OA policy and practice.")
    assert len(abstract.split()) == words  # every word, in its place
    assert "is OA (19M in total) and that" in abstract and "(45%)." in abstract


def test_authors_orcids_affiliations_journal_and_ids(tmp_path: Path) -> None:
    (record,) = _snapshot_records(tmp_path)
    paper = decode_record(record)
    assert isinstance(paper, Paper)
    assert len(paper.authors) == 9
    first = paper.authors[0]
    assert first.name == "Heather A. Piwowar"
    assert first.orcid and first.orcid.endswith("0000-0003-1613-5981")
    assert first.affiliations == ["Impactstory, Sanford, NC, USA"]  # as the work wrote it
    assert paper.authors[6].orcid is None  # Ashley Farley has none
    # The 2022 shape names the journal in `host_venue`.
    assert paper.journal.name == "PeerJ" and paper.journal.issn == ["2167-8359"]
    assert paper.journal.volume == "6"
    assert paper.pmid == "29456894"
    assert paper.published is not None and paper.published.value.isoformat() == "2018-02-13"
    assert paper.language is None  # the 2022 answer had no `language`
