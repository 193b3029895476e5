"""An in-process scripted registry for fast tests (no docker-registry process).

with FakeRegistry(PERSONALITIES["ecr"]) as registry:
    image = registry.seed_image("app", "linux/arm64")
    registry.script(("PUT", r"/blobs/uploads/"), lose_reply())
    ...
"""

from .auth import AuthConfig
from .images import FakeImage, make_image, make_list
from .personality import PERSONALITIES, Immutability, Personality
from .registry import FakeRegistry
from .script import (
    Action,
    call,
    delay,
    drip,
    fail,
    lose_reply,
    passthrough,
    reset,
    respond,
    truncate,
)
from .store import StoredManifest

__all__ = [
    "PERSONALITIES",
    "Action",
    "AuthConfig",
    "FakeImage",
    "FakeRegistry",
    "Immutability",
    "Personality",
    "StoredManifest",
    "call",
    "delay",
    "drip",
    "fail",
    "lose_reply",
    "make_image",
    "make_list",
    "passthrough",
    "reset",
    "respond",
    "truncate",
]
