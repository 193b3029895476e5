"""Every user path — login, one-shot push, re-run, upsert, local-list push, verify — against
the fake registry wearing each hosted registry's personality (tests/fakereg/personality.py,
from §14 of shared/reference/hosted-registries.md). Simulated registries, not live ones."""

from __future__ import annotations

import pytest
from fakereg import PERSONALITIES, AuthConfig
from fakereg.images import DOCKER_LIST, OCI_INDEX
from hostedhelpers import PASSWORD, USER, bearer, hosted

from manifestor.local.store import ManifestStore
from manifestor.ops.lists import create_list, push_stored_list
from manifestor.ops.verify import verify_list


def _auth_for(name: str) -> tuple[AuthConfig, str]:
    if name == "ecr":
        # ECR answers the ping with a Basic challenge; the password is the 12-hour token.
        return AuthConfig("basic", {"AWS": PASSWORD}), "AWS"
    return bearer(), USER


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_every_path_works_on_each_registry(name, tmp_path):
    auth, user = _auth_for(name)
    with hosted(name, tmp_path, auth=auth, username=user, password=PASSWORD) as reg:
        if not reg.registry.personality.auto_create:
            reg.registry.create_repo("team/app")  # ECR / Artifact Registry: made by the user
        amd64, arm64 = reg.seed_sources()

        # login: the credentials are checked the way the registry asks for them
        assert reg.client.check_credentials(reg.host) == auth.scheme

        # one-shot push from another repository of the same registry
        first = reg.publish("team/app:1.0", ["src/app:1.0-amd64", "src/app:1.0-arm64"])
        assert not first.unchanged
        stored = reg.registry.get_manifest("team/app", "1.0")
        assert stored is not None and stored.digest == first.digest
        oci_only = reg.registry.personality.docker_types_refused
        assert stored.media_type == (OCI_INDEX if oci_only else DOCKER_LIST)
        assert reg.list_children("team/app", "1.0") == [amd64.digest, arm64.digest]
        assert reg.tag_puts("team/app", "1.0") == 1

        # the same release again changes nothing and writes nothing
        again = reg.publish("team/app:1.0", ["src/app:1.0-amd64", "src/app:1.0-arm64"])
        assert again.unchanged and again.digest == first.digest
        assert reg.tag_puts("team/app", "1.0") == 1

        # verify reads every child and config back (with the push credentials)
        report = verify_list(reg.client, reg.ref("team/app:1.0"))
        assert report.ok, report.to_json()

        # upsert: another job adds its platform to the shared tag
        (armv7,) = reg.seed_sources(platforms=("linux/arm/v7",))
        merged = reg.publish("team/app:1.0", ["src/app:1.0-armv7"], upsert=True)
        assert merged.digest != first.digest
        assert reg.list_children("team/app", "1.0") == [amd64.digest, arm64.digest, armv7.digest]
        assert len(reg.upsert_waits) == 1  # it settled (recorded, not slept) and re-checked

        # push of a local list (docker manifest create + push)
        store = ManifestStore(tmp_path / "config")
        local = reg.ref("team/app:local")
        create_list(
            reg.client, store, local, [reg.ref("src/app:1.0-amd64"), reg.ref("src/app:1.0-arm64")]
        )
        pushed = push_stored_list(reg.client, store, local)
        assert reg.registry.tags("team/app")["local"] == pushed.digest == first.digest

        assert not reg.notices
