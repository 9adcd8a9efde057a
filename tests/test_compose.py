"""docker-compose.yml: `docker-compose config` accepts it with the example environment, refuses it
without the secrets, and it has what production-like use needs (healthchecks, named volumes, ports
on 127.0.0.1 only, the runner wired to Elasticsearch and the Prefect server)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.system_packages import require_binary

LONG_RUNNING = {"elasticsearch", "kibana", "postgres", "prefect-server", "scholarflow", "web"}
ONE_SHOT = {"es-setup", "kibana-setup"}


def _config(env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary("docker-compose", "docker-compose")
    clean_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(REPO / "docker-compose.yml"), "config"],
        cwd=REPO,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ports(service: dict) -> list[str]:
    """`host_ip:published:target` for each port, in either output form of `config`."""
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append(f"{port.get('host_ip')}:{port['published']}:{port['target']}")
        else:
            ports.append(str(port).removesuffix("/tcp"))
    return ports


def _mount_targets(service: dict) -> set[str]:
    return {
        v["target"] if isinstance(v, dict) else v.split(":")[1] for v in service.get("volumes", [])
    }


@pytest.fixture(scope="module")
def config() -> dict:
    done = _config(REPO / ".env.example")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_config_accepts_the_file_with_the_example_environment(config: dict):
    services = config["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    for name in LONG_RUNNING:
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
        assert services[name]["restart"] == "unless-stopped"
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no"
    assert set(config["volumes"]) == {"esdata", "kibanadata", "pgdata", "scholarflow-home"}
    for service in services.values():
        for port in _ports(service):
            assert port.startswith("127.0.0.1:"), port


def test_elasticsearch_is_secured_single_node_with_icu(config: dict):
    es = config["services"]["elasticsearch"]
    assert es["environment"]["discovery.type"] == "single-node"
    assert es["environment"]["xpack.security.enabled"] == "true"
    dockerfile = (Path(es["build"]["context"]) / "Dockerfile").read_text()
    assert "elasticsearch-plugin install --batch analysis-icu" in dockerfile
    assert es["build"]["args"]["ELASTIC_VERSION"].startswith("9.")


def test_runner_and_prefect_server_are_wired_together(config: dict):
    services = config["services"]
    runner, server = services["scholarflow"], services["prefect-server"]
    assert runner["command"] == ["scholarflow", "serve"]
    assert runner["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert runner["environment"]["SCHOLARFLOW_ES_URL"] == "http://elasticsearch:9200"
    assert runner["environment"]["SCHOLARFLOW_ES_USERNAME"] == "scholarflow"
    assert runner["depends_on"]["es-setup"]["condition"] == "service_completed_successfully"
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(
        "postgresql+asyncpg://prefect:"
    )
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert _ports(server) == ["127.0.0.1:4200:4200"]
    importer = services["kibana-setup"]
    assert importer["depends_on"]["kibana"]["condition"] == "service_healthy"
    assert "/kibana" in _mount_targets(importer)
    assert "/inbox" in _mount_targets(runner)


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = _config(empty)
    assert done.returncode != 0
    assert "set ELASTIC_PASSWORD in .env" in done.stderr


def test_env_example_holds_no_real_secrets():
    values = dict(
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    secrets = {k: v for k, v in values.items() if "PASSWORD" in k or "KEY" in k}
    assert len(secrets) == 6
    assert all(v.startswith("change-me") for v in secrets.values()), secrets


def test_search_service_reads_elasticsearch_as_a_read_only_user(config: dict):
    services = config["services"]
    web, runner = services["web"], services["scholarflow"]
    assert web["command"][:2] == ["scholarflow", "web"]
    assert web["environment"]["SCHOLARFLOW_ES_URL"] == "http://elasticsearch:9200"
    assert web["environment"]["SCHOLARFLOW_ES_USERNAME"] == "scholarflow_search"
    assert web["depends_on"]["es-setup"]["condition"] == "service_completed_successfully"
    assert _ports(web) == ["127.0.0.1:8080:8080"]
    assert runner["environment"]["SCHOLARFLOW_SERVE_WEB"] == "false"  # one search service
    setup = (REPO / "docker" / "setup" / "elasticsearch.sh").read_text()
    role = setup.split("/_security/role/scholarflow_search", 1)[1].split("}'", 1)[0]
    assert '"privileges": ["read", "view_index_metadata"]' in role
    assert "all" not in role and "write" not in role
