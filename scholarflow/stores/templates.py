"""What the engine receives for the paper indices: the templates and analysis profiles in
`index_mappings/`, composed for this cluster, and every store's mappings file.

A paper index is built from one index template of two component templates (settings; fields
with one profile's analyzers and the engine's vector field): a re-index installs them again,
which is how a changed template reaches the data. `scholarflow/stores/indices.py` creates the
indices from them.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from scholarflow.errors import ScholarflowError
from scholarflow.package_data import data_dir
from scholarflow.settings import AnalysisProfile, VectorMapping
from scholarflow.stores.layout import Layout, index_layout
from scholarflow.stores.vector_mapping import resolve_mapping, vector_component

MAPPINGS_DIR = data_dir("index_mappings")
SETTINGS_COMPONENT = "scholarflow-settings"
PAPERS_COMPONENT = "scholarflow-papers"
SETTINGS_FILE = "settings.json"
MAPPINGS_FILE = "papers.mappings.json"
ANALYSIS_FILE = "analysis.{profile}.json"
INDEX_TEMPLATE = "papers.index-template.json"
ICU_PLUGIN = "analysis-icu"
# A plugin bundle is listed by its name; a plugin loaded from the classpath (the embedded
# engine) by its class.
ICU_PLUGIN_NAMES = {
    ICU_PLUGIN,
    "org.opensearch.plugin.analysis.icu.AnalysisICUPlugin",
    "org.elasticsearch.plugin.analysis.icu.AnalysisICUPlugin",
}
# The tokenizer of the smartcn profile (engine/src/main/java: SmartChinesePlugin): words plus
# bigrams. Looked for by asking the engine to use it, since a classpath plugin is listed by class
# and a cluster may carry another build of it.
SMARTCN_TOKENIZER = "smartcn_bigram"


class ProfileUnavailable(ScholarflowError):
    """The analysis profile asked for needs what the cluster lacks (a plugin, a tokenizer)."""


@cache
def load_mapping_file(name: str) -> dict[str, Any]:
    return json.loads((MAPPINGS_DIR / name).read_text(encoding="utf-8"))


def index_template(alias: str) -> dict[str, Any]:
    """The index template for `<alias>-*` (the file is written for the default alias)."""
    body = dict(load_mapping_file(INDEX_TEMPLATE))
    body["index_patterns"] = [f"{alias}-*"]
    return body


def settings_component(layout: Layout) -> dict[str, Any]:
    """`settings.json` with the layout's shards and replicas."""
    body = dict(load_mapping_file(SETTINGS_FILE))
    settings = {**body["template"]["settings"], **layout.index_settings()}
    if "auto_expand_replicas" in settings and settings["auto_expand_replicas"] is not False:
        settings.pop("number_of_replicas", None)
    body["template"] = {**body["template"], "settings": settings}
    return body


def analysis_settings(profile: str) -> dict[str, Any]:
    """The `settings` of one analysis profile (`index_mappings/analysis.<profile>.json`)."""
    return load_mapping_file(ANALYSIS_FILE.format(profile=profile))["template"]["settings"]


def papers_component(
    profile: str, vectors: VectorMapping | str = VectorMapping.NONE
) -> dict[str, Any]:
    """The fields with the profile's analyzers and the engine's vector field: one component,
    because OpenSearch checks each component template on its own and refuses mappings whose
    analyzers live in another."""
    body = dict(load_mapping_file(MAPPINGS_FILE))
    vector = vector_component(vectors)
    mappings = body["template"]["mappings"]
    properties = {**mappings["properties"], **vector["mappings"]["properties"]}
    body["template"] = {
        "mappings": {**mappings, "properties": properties},
        "settings": {**analysis_settings(profile), **vector.get("settings", {})},
    }
    body["_meta"] = {
        **body["_meta"],
        "analysis_profile": profile,
        "vector_mapping": VectorMapping(vectors).value,
    }
    return body


# --- analysis profiles ------------------------------------------------------------------------


def cluster_has_icu(client: Elasticsearch) -> bool:
    """Whether every node has the analysis-icu plugin (an index may land on any of them)."""
    try:
        nodes = client.nodes.info(metric="plugins")["nodes"]
    except ApiError:
        return False  # managed clusters may refuse node info: the stock profile always works
    return bool(nodes) and all(
        any(plugin.get("name") in ICU_PLUGIN_NAMES for plugin in node.get("plugins") or [])
        for node in nodes.values()
    )


def cluster_has_smartcn(client: Elasticsearch) -> bool:
    """Whether the engine knows the smartcn profile's tokenizer (an `_analyze` with it works)."""
    try:
        client.indices.analyze(tokenizer=SMARTCN_TOKENIZER, text="中文分词")
    except ApiError:
        return False  # an unknown tokenizer is a 400; a refused request says no as well
    return True


def resolve_profile(client: Elasticsearch, requested: AnalysisProfile | str) -> str:
    """The analysis profile to build indices with: the setting, or the cluster's best of the
    automatic ones (`smartcn` is chosen only when asked for: it measured no better than
    bigrams)."""
    requested = AnalysisProfile(requested)
    if requested is AnalysisProfile.STOCK:
        return requested.value
    has_icu = cluster_has_icu(client)
    if requested is not AnalysisProfile.AUTO and not has_icu:
        raise ProfileUnavailable(
            f"the analysis profile is set to {requested.value}, but not every node of the cluster "
            f"has the {ICU_PLUGIN} plugin (install it, or set SCHOLARFLOW_ANALYSIS_PROFILE=stock)"
        )
    if requested is AnalysisProfile.SMARTCN and not cluster_has_smartcn(client):
        raise ProfileUnavailable(
            f"the analysis profile is set to smartcn, but the engine has no {SMARTCN_TOKENIZER} "
            "tokenizer (the embedded engine has it; set SCHOLARFLOW_ANALYSIS_PROFILE=icu)"
        )
    if requested is not AnalysisProfile.AUTO:
        return requested.value
    return AnalysisProfile.ICU.value if has_icu else AnalysisProfile.STOCK.value


def profile_of(index_settings: dict[str, Any]) -> str:
    """The profile an existing index was built with, read from its analysis settings."""
    analysis = index_settings.get("index", index_settings).get("analysis", {})
    tokenizer = analysis.get("analyzer", {}).get("chinese_text", {}).get("tokenizer")
    if analysis.get("tokenizer", {}).get(tokenizer, {}).get("type") == SMARTCN_TOKENIZER:
        return AnalysisProfile.SMARTCN.value
    icu = tokenizer == "icu_tokenizer"
    return (AnalysisProfile.ICU if icu else AnalysisProfile.STOCK).value


def install_templates(
    client: Elasticsearch,
    alias: str,
    profile: str,
    vectors: VectorMapping | str = VectorMapping.AUTO,
    layout: Layout | None = None,
) -> None:
    """Put the component templates (with the layout's shards and replicas, the profile's
    analysis and the cluster's vector field, or the one asked for) and the index template."""
    client.cluster.put_component_template(
        name=SETTINGS_COMPONENT, **settings_component(layout or index_layout(client))
    )
    component = papers_component(profile, resolve_mapping(client, vectors))
    client.cluster.put_component_template(name=PAPERS_COMPONENT, **component)
    client.indices.put_index_template(name=f"scholarflow-{alias}", **index_template(alias))
