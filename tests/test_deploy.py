"""The deployment recipes in docs/deploy/ (README "Deployment") parse, and name only settings, routes and files that
exist: the systemd unit, the container recipe, the nginx site and the Prometheus scrape job."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from nlpipe.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy"


def _settings_from(env: dict[str, str]) -> Settings:
    """Settings built from ``env`` alone: every NLPIPE_ variable must be a known setting with a valid value."""
    fields = {name.upper() for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("NLPIPE_") and k.removeprefix("NLPIPE_") not in fields)
    assert not unknown, f"unknown settings: {unknown}"
    values = {k.removeprefix("NLPIPE_").lower(): v for k, v in env.items() if k.startswith("NLPIPE_")}
    return Settings.model_validate(values)


def test_systemd_unit_parses_and_runs_nlpipe_serve():
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in (DEPLOY / "nlpipe.service").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if re.fullmatch(r"\[\w+\]", line):
            current = line[1:-1]
            sections[current] = []
            continue
        assert current is not None and "=" in line, raw
        key, _, value = line.partition("=")
        sections[current].append((key, value))
    assert set(sections) == {"Unit", "Service", "Install"}
    service = dict(sections["Service"])
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "nlpipe" and argv[1:] == ["serve"]
    assert service["KillSignal"] == "SIGTERM"
    env = dict(value.split("=", 1) for key, value in sections["Service"] if key == "Environment")
    cfg = _settings_from(env)
    assert cfg.workers == 2 and cfg.log_format == "json" and cfg.shutdown_timeout < float(service["TimeoutStopSec"])


def test_container_recipe_parses():
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Containerfile").read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        pending += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            instructions.append((word.upper(), rest))
            pending = ""
    words = [w for w, _ in instructions]
    assert words[0] == "FROM" and words.count("CMD") == 1 and "USER" in words
    for word, rest in instructions:
        if word == "COPY":
            *sources, _ = rest.split()
            assert all((ROOT / s).exists() for s in sources), rest
        if word == "CMD":
            assert json.loads(rest) == ["nlpipe", "serve"]
        if word == "HEALTHCHECK":
            assert "/health/live" in rest
    env = dict(pair.split("=", 1) for word, rest in instructions if word == "ENV" for pair in rest.split())
    assert _settings_from(env).host == "0.0.0.0"


def test_nginx_site_and_prometheus_job():
    conf = (DEPLOY / "nginx.conf").read_text()
    text = re.sub(r"#.*", "", conf)
    assert text.count("{") == text.count("}")
    assert all(line.strip().endswith((";", "{", "}")) for line in text.splitlines() if line.strip())
    assert "proxy_set_header X-Request-ID" in text and "proxy_set_header Host $host" in text
    job = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"


def test_readme_deployment_names_the_recipes():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deployment") :]
    section = section[: section.index("\n## ", 4)]
    for name in ("nlpipe.service", "Containerfile", "nginx.conf", "prometheus.yml"):
        assert f"docs/deploy/{name}" in section, name
    for word in ("--workers", "PostgreSQL", "keys create", "/metrics", "/health/ready"):
        assert word in section, word
