"""/metrics as docker-compose.yml configures it: the Docker gateway is not trusted by its
address (every client of a published port arrives from it); Prometheus's token is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.test import override_settings

REPO = Path(__file__).resolve().parents[2]
TOKEN = "compose-scrape-token-used-only-in-tests"
# The compose network's gateway (its subnet is fixed in the file), Docker's default
# bridge gateway, and a compose container (Prometheus) with no token.
DOCKER_ADDRESSES = ["172.28.0.1", "172.17.0.1", "172.28.0.5"]


def compose_metrics_settings() -> override_settings:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    value = compose["services"]["api"]["environment"]["METRICS_ALLOWED_CIDRS"]
    cidrs = [cidr.strip() for cidr in value.split(",")]
    return override_settings(METRICS_ALLOWED_CIDRS=cidrs, METRICS_BEARER_TOKEN=TOKEN)


@pytest.mark.parametrize("address", DOCKER_ADDRESSES)
def test_the_compose_allow_list_refuses_docker_addresses_without_the_token(client, address):
    # given the api configured as docker-compose.yml configures it
    with compose_metrics_settings():
        # when a client reaches /metrics through a published port (seen from the gateway)
        # or from inside the compose network, without the token
        response = client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR=address)
    # then it is refused
    assert response.status_code == 403


def test_prometheus_with_the_token_scrapes_from_the_compose_network(client):
    # given the compose settings, when Prometheus scrapes with its bearer token
    with compose_metrics_settings():
        response = client.get(
            "/metrics",
            HTTP_HOST="localhost",
            REMOTE_ADDR="172.28.0.5",
            HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        )
    # then it gets the metrics
    assert response.status_code == 200
    assert b"bookings_total" in response.content
