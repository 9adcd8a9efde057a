"""What a paper is: the records that flow through a run and the rules that make them one paper.

It stands on the ground floor of the core (it imports only `errors`, `settings`, `run_scoped`):
every other room, and every stage, may import it.

- `models.py`: raw source lines, the canonical `Paper`, outcomes and run summaries;
- `text.py`: clean-up shared by decoding and query building (markup, widths, Traditional →
Simplified);
- `coerce.py`: lenient coercions for loosely typed fields (numbers as strings, blanks, dates);
- `names.py`: people's names compared across scripts and conventions;
- `doi.py`: one spelling per DOI, so it can serve as a document id and a cache key;
- `merging.py`: how two descriptions of one paper become one;
- `dedupe.py`: one paper in two records without a DOI, across languages;
- `corrections.py`: corrections and retractions, read from the registry's answers;
- `doi_moves.py`: documents that move to the DOI a later run found for them.
"""
