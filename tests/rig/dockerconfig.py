"""A throwaway DOCKER_CONFIG directory for tests that drive docker-compatible clients.

`docker login` needs a daemon, so tests write `config.json` (auths, helpers) by hand here.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any


class DockerConfig:
    """`path` is the DOCKER_CONFIG directory; `config_file` is its config.json."""

    def __init__(self, path: Path):
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_file = path / "config.json"

    def read(self) -> dict[str, Any]:
        return json.loads(self.config_file.read_text()) if self.config_file.exists() else {}

    def write(self, data: dict[str, Any]) -> None:
        self.config_file.write_text(json.dumps(data, indent=2))

    def add_auth(self, host: str, user: str, password: str) -> None:
        """Record credentials for `host` ("127.0.0.1:PORT") as `docker login` would."""
        data = self.read()
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        data.setdefault("auths", {})[host] = {"auth": encoded}
        self.write(data)
