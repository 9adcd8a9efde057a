"""The search service: a JSON API and a bilingual search page over the live alias (`scholarflow
web`, and beside the deployments in `scholarflow serve`).

An entry point like `cli/`: it reads the core's public search functions and nothing imports it
but the CLI. Read-only: no route writes, re-indexes, or shows settings, credentials or engine
addresses. Modules:

- `app.py`        the FastAPI application: one engine client per process, errors as one line,
                  rate limits, CORS (off unless configured), security headers
- `api.py`        `/api/search`, `/api/suggest`, `/api/papers/{id}`, `…/cite`, `/api/status`
- `pages.py`      the server-rendered pages (Jinja2 templates in `templates/`, CSS in `static/`)
- `templating.py` the templates' setup and filters: highlights as `<mark>`, languages, links
- `searching.py`  a search request's parameters, bounded, and one page of its results
                  (numbered pages from the top, `search_after` past them)
- `papers.py`     one paper by id or DOI, following ids that moved to a DOI
- `cite.py`       RIS, BibTeX and CSL-JSON of a paper
- `words.py`      the interface in English and Chinese: labels, counts, dates, numbers
- `limits.py`     requests per minute per client address
- `schemas.py`    the API's response models (the served OpenAPI schema)
- `server.py`     uvicorn, in the foreground or on a thread
"""
