"""Prove a published list is what it claims: every child resolves in the repository,
each image's config says the platform its descriptor claims (an amd64 image tagged as
arm64 is caught), the expected platforms are all there, no stray attestations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from manifestor.errors import ManifestorError, NotFoundError
from manifestor.model.entries import (
    ATTESTATION_SUBJECT_KEY,
    describes,
    is_attestation_descriptor,
    platform_from_config,
)
from manifestor.model.oci import Descriptor
from manifestor.model.platform import (
    Platform,
    config_agrees,
    platforms_match,
)
from manifestor.model.reference import Reference
from manifestor.remote.client import RegistryClient
from manifestor.remote.jobs import map_bounded


@dataclass(frozen=True)
class ChildReport:
    digest: str
    claimed: Platform | None
    actual: Platform | None = None
    attestation: bool = False
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class VerifyReport:
    ref: Reference
    digest: str
    media_type: str
    children: tuple[ChildReport, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.children)

    def to_json(self) -> dict[str, object]:
        return {
            "reference": str(self.ref),
            "digest": self.digest,
            "mediaType": self.media_type,
            "ok": self.ok,
            "problems": list(self.problems),
            "children": [
                {
                    "digest": c.digest,
                    "platform": str(c.claimed) if c.claimed else None,
                    "configPlatform": str(c.actual) if c.actual else None,
                    "attestation": c.attestation,
                    "ok": c.ok,
                    "problems": list(c.problems),
                }
                for c in self.children
            ],
        }


def verify_list(
    client: RegistryClient,
    ref: Reference,
    *,
    expected: Sequence[Platform] = (),
    allow_attestations: bool = False,
) -> VerifyReport:
    """Check the list at `ref`; the report says what is wrong, it does not raise for it."""
    top = client.get_manifest(ref)
    repo = Reference(ref.domain, ref.path)
    if not top.is_list:
        config = client.get_blob(repo, top.config.digest)
        actual = platform_from_config(config, str(ref))
        child = ChildReport(top.digest, None, actual)
        return VerifyReport(
            ref,
            top.digest,
            top.media_type,
            (child,),
            ("not a list: a single image", *_missing(expected, [actual])),
        )
    children = tuple(
        map_bounded(
            lambda d: _check_child(client, repo, d), list(top.children), lambda d: ref.registry
        )
    )
    children = _flag_stray_attestations(top.children, children)
    problems = list(_missing(expected, [c.claimed for c in children if not c.attestation]))
    if not any(not c.attestation for c in children):
        problems.append("the list has no images")
    attestations = [c for c in children if c.attestation]
    if attestations and not allow_attestations:
        problems.append(
            f"{len(attestations)} attestation entr{'y' if len(attestations) == 1 else 'ies'} "
            "(unknown/unknown) in the list; pass --allow-attestations if that is intended"
        )
    images = [c for c in children if not c.attestation and c.claimed is not None]
    for i, first in enumerate(images):
        for second in images[i + 1 :]:
            assert first.claimed is not None and second.claimed is not None
            if platforms_match(first.claimed, second.claimed) and (
                first.claimed.os_version == second.claimed.os_version
            ):
                problems.append(
                    f"two entries for {first.claimed}: {first.digest} and {second.digest}"
                )
    return VerifyReport(ref, top.digest, top.media_type, children, tuple(problems))


def _flag_stray_attestations(
    descriptors: Sequence[Descriptor], children: Sequence[ChildReport]
) -> tuple[ChildReport, ...]:
    """An attestation whose subject image is not in the list is stray, even when
    attestations are allowed."""
    images = {c.digest for c in children if not c.attestation}
    out = []
    for descriptor, child in zip(descriptors, children, strict=True):
        subject = (descriptor.annotations or {}).get(ATTESTATION_SUBJECT_KEY)
        if child.attestation and not describes(descriptor, images):
            problem = f"attestation for {subject or 'no image'}, which is not in the list"
            child = replace(child, problems=(*child.problems, problem))
        out.append(child)
    return tuple(out)


def _missing(expected: Sequence[Platform], present: Sequence[Platform | None]) -> list[str]:
    return [
        f"expected platform {p} is missing"
        for p in expected
        if not any(q is not None and platforms_match(q, p) for q in present)
    ]


def _check_child(client: RegistryClient, repo: Reference, descriptor: Descriptor) -> ChildReport:
    claimed = descriptor.platform
    attestation = is_attestation_descriptor(descriptor)
    at = repo.at_digest(descriptor.digest)
    try:
        manifest = client.get_manifest(at)
    except NotFoundError:
        return ChildReport(
            descriptor.digest,
            claimed,
            None,
            attestation,
            (f"child {descriptor.digest} does not resolve in {repo.name}",),
        )
    except ManifestorError as exc:
        return ChildReport(descriptor.digest, claimed, None, attestation, (str(exc),))
    problems: list[str] = []
    if manifest.media_type != descriptor.media_type or manifest.size != descriptor.size:
        problems.append(
            f"descriptor says {descriptor.media_type} of {descriptor.size} bytes, the registry "
            f"serves {manifest.media_type} of {manifest.size} bytes"
        )
    if attestation or manifest.is_list:
        return ChildReport(descriptor.digest, claimed, None, attestation, tuple(problems))
    try:
        config = client.get_blob(repo, manifest.config.digest)
    except ManifestorError as exc:
        return ChildReport(
            descriptor.digest,
            claimed,
            None,
            attestation,
            (*problems, f"config of {descriptor.digest}: {exc}"),
        )
    actual = platform_from_config(config, descriptor.digest)
    if claimed is None:
        problems.append("the descriptor has no platform")
    elif not config_agrees(actual, claimed):
        problems.append(f"listed as {claimed} but its image config says {actual}")
    return ChildReport(descriptor.digest, claimed, actual, attestation, tuple(problems))
