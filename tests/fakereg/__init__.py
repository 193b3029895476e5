r"""An in-process scripted registry for fast tests (no docker-registry process): the
distribution v2 API from memory, a request log, scripted faults and hosted-registry
personalities. It never imports manifestor.

    with FakeRegistry(PERSONALITIES["ecr"]) as registry:      # or the fake_registry fixture
        amd64 = registry.seed_image("team/app", "linux/amd64", tag="1.0-amd64")
        arm64 = registry.seed_image("team/app", "linux/arm64/v8", media="oci")
        registry.script(("PUT", r"/blobs/uploads/"), lose_reply())   # commit, lose the reply
        registry.script(("PUT", r"/manifests/1\.0$"), call(move_tag))  # race, deterministically
        registry.script((None, r"/manifests/"), delay(0.1), times=None)
        ...  # run the code under test against registry.host
        assert registry.tag_puts("team/app") == 1
        assert registry.count("GET", r"/blobs/") == 0 and registry.max_in_flight <= 4
        assert registry.tags("team/app")["1.0"] == expected_digest
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
