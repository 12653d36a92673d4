"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

import re

import httpx

SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \d+(\.\d+)?$')


def _samples(http: httpx.Client) -> dict[str, float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: dict[str, float] = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        found[name] = float(value)
    return found


def test_every_family_is_exposed(http: httpx.Client) -> None:
    samples = _samples(http)
    for name in (
        "themis_uptime_seconds",
        'themis_storage_entries{space="docs"}',
        "themis_group_commits_total",
        "themis_cursors_open",
        'themis_transactions_total{outcome="committed"}',
        "themis_transactions_open",
        "themis_transactions_prepared",
        "themis_storage_used_bytes",
        "themis_storage_map_bytes",
    ):
        assert name in samples
    assert (
        0 < samples["themis_storage_used_bytes"] < samples["themis_storage_map_bytes"]
    )


def test_request_counters_grow(http: httpx.Client) -> None:
    key = 'themis_http_requests_total{method="GET",route="/health"}'
    before = _samples(http).get(key, 0.0)
    http.get("/health")
    http.get("/health")
    assert _samples(http)[key] == before + 2
