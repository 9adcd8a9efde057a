"""The vector field of the paper indices, per engine, chosen as the analysis profile is.

`auto` takes the k-NN plugin's `knn_vector` (Lucene HNSW) where every node lists the plugin,
Elasticsearch's own `dense_vector` on Elasticsearch 8 or newer, and no vector field otherwise
(OpenSearch without the plugin, the in-memory fallback): search is then lexical only, and
`scholarflow status` says so. The choice is made when an index is created; an existing index
says which one it has by the type of its `embedding` field.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from scholarflow.errors import ScholarflowError
from scholarflow.package_data import data_dir
from scholarflow.settings import VectorMapping

VECTOR_FIELD = "embedding"
INFO_FIELD = "embedding_info"
DIMENSIONS = 384
KNN_PLUGIN = "opensearch-knn"
# A plugin bundle is listed by its name; a plugin loaded from the classpath (the embedded
# engine) by its class.
KNN_PLUGIN_NAMES = {KNN_PLUGIN, "org.opensearch.knn.plugin.KNNPlugin"}
# What each mapping is called where an operator reads it.
DESCRIPTIONS = {
    VectorMapping.KNN: "knn_vector (OpenSearch k-NN plugin, Lucene HNSW, cosine)",
    VectorMapping.DENSE_VECTOR: "dense_vector (Elasticsearch HNSW, cosine)",
    VectorMapping.NONE: "none: this engine has no vector field type, search is lexical only",
}
_TYPES = {"knn_vector": VectorMapping.KNN, "dense_vector": VectorMapping.DENSE_VECTOR}


class VectorMappingError(ScholarflowError):
    """The vector mapping asked for is one the cluster cannot hold."""


@cache
def vector_component(mapping: VectorMapping | str) -> dict[str, Any]:
    """`index_mappings/vectors.<mapping>.json`: the field (and index settings) of one mapping."""
    name = VectorMapping(mapping).value
    path = data_dir("index_mappings") / f"vectors.{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))["template"]


def cluster_mapping(client: Elasticsearch) -> VectorMapping:
    """The best vector field the cluster offers."""
    info = client.info()
    version = info.get("version", {})
    if version.get("distribution") == "opensearch":
        return VectorMapping.KNN if _every_node_has_knn(client) else VectorMapping.NONE
    if version.get("distribution") is None and _major(version.get("number", "0")) >= 8:
        return VectorMapping.DENSE_VECTOR  # Elasticsearch: built in since 8.0
    return VectorMapping.NONE


def resolve_mapping(client: Elasticsearch, requested: VectorMapping | str) -> VectorMapping:
    """The vector mapping to build indices with: the setting, or the cluster's best."""
    requested = VectorMapping(requested)
    if requested is VectorMapping.NONE:
        return requested
    best = cluster_mapping(client)
    if requested is not VectorMapping.AUTO and requested is not best:
        raise VectorMappingError(
            f"the vector mapping is set to {requested.value}, but this cluster offers "
            f"{best.value} (set SCHOLARFLOW_VECTOR_MAPPING=auto or none)"
        )
    return best


def index_mapping(client: Elasticsearch, index: str) -> VectorMapping:
    """The vector mapping of `index` (one small request: the field's mapping alone)."""
    found = client.indices.get_field_mapping(index=index, fields=VECTOR_FIELD).body
    for entry in found.values():
        field = entry.get("mappings", {}).get(VECTOR_FIELD, {}).get("mapping", {})
        return _TYPES.get(field.get(VECTOR_FIELD, {}).get("type"), VectorMapping.NONE)
    return VectorMapping.NONE


def _every_node_has_knn(client: Elasticsearch) -> bool:
    try:
        nodes = client.nodes.info(metric="plugins")["nodes"]
    except ApiError:
        return False  # managed clusters may refuse node info: lexical search always works
    return bool(nodes) and all(
        any(plugin.get("name") in KNN_PLUGIN_NAMES for plugin in node.get("plugins") or [])
        for node in nodes.values()
    )


def _major(number: str) -> int:
    head = number.split(".")[0]
    return int(head) if head.isdigit() else 0
