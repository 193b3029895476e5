"""The hosted-registry errors as a user sees them: `manifestor` run as a subprocess against
the fake registry wearing a personality — one line on stderr, exit 1, nothing half-written."""

from __future__ import annotations

from dataclasses import replace

import pytest
from clihelpers import assert_one_line_error, make_cli
from fakereg import PERSONALITIES, AuthConfig, FakeRegistry
from fakereg.personality import ECR_IMMUTABLE, ZERO_UUID_USER

# The CLI as a subprocess (pyproject.toml); the same decisions are tested in the test
# process by test_hosted_quirks.py (rows 1, 4-5 and 32).
pytestmark = pytest.mark.integration


def _seed(registry: FakeRegistry) -> list[str]:
    registry.seed_image("src/app", "linux/amd64", tag="1.0-amd64")
    registry.seed_image("src/app", "linux/arm64/v8", tag="1.0-arm64")
    return [f"{registry.host}/src/app:1.0-amd64", f"{registry.host}/src/app:1.0-arm64"]


def test_cli_immutable_ecr_tag(tmp_path):
    cli = make_cli(tmp_path)
    with FakeRegistry(replace(PERSONALITIES["ecr"], immutable=ECR_IMMUTABLE)) as registry:
        registry.create_repo("team/app")
        sources = _seed(registry)
        target = f"{registry.host}/team/app:1.0"
        first = cli.ok("push", target, *sources)
        again = cli.ok("push", target, *sources)
        assert "unchanged" in again.stderr
        assert again.stdout_lines[-1] == first.stdout_lines[-1]
        result = cli.run("push", "--quiet", target, sources[0])
        assert_one_line_error(result, 1, "tag 1.0 is immutable on this registry")
        assert registry.tags("team/app")["1.0"] == first.stdout_lines[-1]


def test_cli_missing_ecr_repository(tmp_path):
    cli = make_cli(tmp_path)
    with FakeRegistry(PERSONALITIES["ecr"]) as registry:
        sources = _seed(registry)
        result = cli.run("push", f"{registry.host}/team/app:1.0", *sources)
        assert_one_line_error(
            result, 1, "repository team/app does not exist", "aws ecr create-repository"
        )
        assert registry.tags("team/app") == {}


def test_cli_login_with_an_acr_refresh_token(tmp_path, monkeypatch):
    cli = make_cli(tmp_path)
    auth = AuthConfig("bearer", {"alice": "alice-pw"})
    with FakeRegistry(PERSONALITIES["acr"], auth=auth) as registry:
        refresh = registry.refresh_token("alice")
        monkeypatch.setenv("MANIFESTOR_USERNAME", ZERO_UUID_USER)
        monkeypatch.setenv("MANIFESTOR_PASSWORD", refresh)
        result = cli.ok("login", registry.host)
        assert "Login Succeeded" in result.stdout
        # the push reads what login stored
        monkeypatch.delenv("MANIFESTOR_USERNAME")
        monkeypatch.delenv("MANIFESTOR_PASSWORD")
        sources = _seed(registry)
        pushed = cli.ok("push", f"{registry.host}/team/app:1.0", *sources)
        assert registry.tags("team/app")["1.0"] == pushed.stdout_lines[-1]
