"""The HTTP node under Scholarflow's one Elasticsearch client, so that it speaks to every engine.

The official client sends `application/vnd.elasticsearch+json; compatible-with=9` and refuses any
answer without `X-Elastic-Product: Elasticsearch` (`UnsupportedProductError`). Elasticsearch 8/9
accept plain `application/json` as well; OpenSearch and the fallback engine accept only that, and
never name a product. `EngineNode` sends the plain media types and notes, on answers that carry
no product header, which engine sent them: everything above the node is one code path.
"""

from __future__ import annotations

from elastic_transport import HttpHeaders, Urllib3HttpNode

_PLAIN_TYPES = {
    "application/vnd.elasticsearch+json; compatible-with=9": "application/json",
    "application/vnd.elasticsearch+x-ndjson; compatible-with=9": "application/x-ndjson",
}
PRODUCT_HEADER = "x-elastic-product"


class EngineNode(Urllib3HttpNode):
    """Plain JSON media types out; answers of engines that are not Elasticsearch let through."""

    def perform_request(self, method, target, body=None, headers=None, **kwargs):
        if headers:
            headers = HttpHeaders({k: _PLAIN_TYPES.get(v, v) for k, v in headers.items()})
        response = super().perform_request(method, target, body=body, headers=headers, **kwargs)
        if PRODUCT_HEADER not in response.meta.headers:
            # OpenSearch and osmem: the client's product check is for Elasticsearch's own
            # answers; what it guards (the API's shape) is what our tests check on each engine.
            response.meta.headers[PRODUCT_HEADER] = "Elasticsearch"
        return response
