"""Vectors for cross-lingual search: a paper's meaning as 384 numbers, comparable across English
and Chinese, made after indexing by their own stage (tasks/embed.py, flows/embed.py).

One job per module:
- `model.py`: the multilingual model (multilingual-e5-small, 4-bit, in-process), texts cut to its
  window on a word boundary, and one clear error when it cannot load;
- `passages.py`: what of a paper is embedded, and the hash that names that text;
- `cache.py`: vectors by text hash in an index of the engine, so no text is embedded twice;
- `vectors.py`: a batch of papers' vectors, from the cache or the model, as partial documents;
- `status.py`: the live index's vector field and how many papers have a vector.

Which vector field an engine gets is the index's business: `stores/vector_mapping.py`.
Stands on `stores/` (the cache is an index); `search/` imports the model for a query's vector.
"""
