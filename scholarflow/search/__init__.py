"""Search: from what a user types to ranked papers, and how well that works.

Stands on `paper/` (text folding, DOIs), `engine/` (the client), `embedding/` (the query's
vector) and `stores/`; `alerts/` builds its stored queries with `query.py`.

- `query_text.py`: what a user typed, read by our own small tokenizer (never a query parser);
- `query.py`: the query builder: fields, boosts, filters, facets, highlights, suggestions;
- `ranking.py`: signals beyond the text: citations, a typed year, retracted papers demoted;
- `hybrid.py`: the lexical query and the papers nearest its meaning, fused;
- `translate.py`: an English keyword query's words in Chinese (CC-CEDICT), for the hybrid search;
- `service.py`: searching the live index: what the CLI and any caller get back;
- `relevance.py`: judged queries and judged sets, and their MRR, nDCG and recall;
- `anchor.py`: the textbook BM25 anchor every judged set is measured beside;
- `crosslingual_eval.py`: judged queries asked in one language of papers in the other.
"""
