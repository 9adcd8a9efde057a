"""A cluster given as several addresses in SCHOLARFLOW_ES_URL: the client's node pool holds each,
the credentials of any of them travel as basic auth and never show in an error line. Nothing
listens at the addresses (the discard and echo ports), so every node is tried and refused."""

from __future__ import annotations

import pytest

from scholarflow.engine.client import EngineError, check, connect, node_urls
from scholarflow.settings import Settings

ADDRESSES = "http://ops:s3cr3t-pw@127.0.0.1:9, http://127.0.0.1:7,"


def test_several_addresses_are_the_client_s_node_pool() -> None:
    assert node_urls(ADDRESSES) == ["http://ops:s3cr3t-pw@127.0.0.1:9", "http://127.0.0.1:7"]
    client = connect(Settings(_env_file=None, es_url=ADDRESSES, es_timeout=2))
    pool = sorted(node.base_url for node in client.transport.node_pool.all())
    assert pool == ["http://127.0.0.1:7", "http://127.0.0.1:9"]
    with pytest.raises(EngineError) as failure:
        check(client, ADDRESSES)
    line = str(failure.value)
    assert line.startswith("http://127.0.0.1:9,http://127.0.0.1:7: cannot reach the engine")
    assert "s3cr3t-pw" not in line and "\n" not in line
