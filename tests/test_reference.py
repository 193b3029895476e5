"""Reference parsing pinned to docker's normalisation (distribution/reference), including
the reference table of registry-protocol.md §9 row 16."""

from __future__ import annotations

import pytest

from manifestor.errors import InvalidReferenceError, UsageError
from manifestor.model.reference import (
    Reference,
    is_loopback_host,
    parse_digest,
    parse_reference,
)

SHA = "sha256:" + "0123456789abcdef" * 4
SHA512 = "sha512:" + "0123456789abcdef" * 8


def invalid(text: str) -> str:
    """The message parse_reference raises for `text`, checked to be one line."""
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    return message


# --- §9 row 16, in order -------------------------------------------------------------


def test_bare_name_is_official_hub_image_with_latest():
    assert str(parse_reference("ubuntu")) == "docker.io/library/ubuntu:latest"


def test_docker_io_single_component_gets_library_prefix():
    ref = parse_reference("docker.io/ubuntu", default_tag=None)
    assert str(ref) == "docker.io/library/ubuntu"


def test_index_docker_io_is_normalised_to_docker_io():
    ref = parse_reference("index.docker.io/foo/bar", default_tag=None)
    assert str(ref) == "docker.io/foo/bar"


def test_localhost_is_a_domain():
    ref = parse_reference("localhost/foo")
    assert (ref.domain, ref.path) == ("localhost", "foo")


def test_localhost_with_port_and_tag():
    ref = parse_reference("localhost:5000/foo:tag")
    assert (ref.domain, ref.path, ref.tag) == ("localhost:5000", "foo", "tag")


def test_host_with_port_is_a_domain():
    ref = parse_reference("foo:5000/bar")
    assert (ref.domain, ref.path) == ("foo:5000", "bar")


def test_uppercase_first_component_is_a_domain():
    ref = parse_reference("Foo/bar")
    assert (ref.domain, ref.path) == ("Foo", "bar")
    assert str(ref) == "Foo/bar:latest"


def test_uppercase_repository_is_refused_naming_it():
    message = invalid("foo/Bar")
    assert message.startswith('invalid reference "foo/Bar": ')
    assert 'repository name "foo/Bar" must be lowercase' in message
    assert '(use "foo/bar")' in message


def test_bracketed_ipv6_domain_with_port():
    ref = parse_reference("[::1]:5000/x")
    assert (ref.domain, ref.path) == ("[::1]:5000", "x")
    assert ref.registry == "[::1]:5000"


def test_path_of_255_characters_is_accepted_not_counting_domain():
    ref = parse_reference("example.com/" + "a" * 255)
    assert len(ref.path) == 255


def test_path_of_256_characters_is_refused_with_the_limit():
    message = invalid("example.com/" + "a" * 256)
    assert "256 characters" in message and "limit is 255" in message


def test_tag_of_128_characters_is_accepted():
    assert parse_reference("r/x:" + "t" * 128).tag == "t" * 128


def test_tag_of_129_characters_is_refused_with_the_limit():
    message = invalid("r/x:" + "t" * 129)
    assert "tag is 129 characters; the limit is 128" in message


def test_64_hex_name_is_refused_like_docker():
    name = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"
    assert "cannot specify 64-byte hexadecimal strings" in invalid(name)


def test_tag_and_digest_are_both_kept():
    ref = parse_reference(f"r/x:t@{SHA}")
    assert (ref.tag, ref.digest) == ("t", SHA)
    assert str(ref) == f"docker.io/r/x:t@{SHA}"
    assert ref.identifier == SHA


def test_short_digest_is_refused():
    message = invalid("r/x@sha256:" + "a" * 63)
    assert "digest must be sha256: followed by 64 lowercase hex characters" in message


# --- normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "domain", "path"),
    [
        ("test.com/foo", "test.com", "foo"),
        ("test_com/foo", "docker.io", "test_com/foo"),
        ("docker/migrator", "docker.io", "docker/migrator"),
        ("test.com:8080/foo", "test.com:8080", "foo"),
        ("test-com:8080/foo", "test-com:8080", "foo"),
        ("foo", "docker.io", "library/foo"),
        ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
        ("docker.io/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo", "docker.io", "library/foo"),
        ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
        ("index.docker.io/debian", "docker.io", "library/debian"),
        ("127.0.0.1:5056/lab/app", "127.0.0.1:5056", "lab/app"),
        ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker"),
        ("[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000", "library/debian"),
        ("[::1]/x", "[::1]", "x"),
        ("DOCKER/docker", "DOCKER", "docker"),
        ("EXAMPLE.com/app", "EXAMPLE.com", "app"),
        ("registry-1.docker.io/x/y", "registry-1.docker.io", "x/y"),
        ("ghcr.io/org/team/app", "ghcr.io", "org/team/app"),
        ("localhost/library/x", "localhost", "library/x"),
    ],
)
def test_domain_and_path_split_like_docker(text: str, domain: str, path: str):
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.repository) == (domain, path, path)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("redis", "docker.io/library/redis:latest"),
        ("redis:7", "docker.io/library/redis:7"),
        (f"redis@{SHA}", f"docker.io/library/redis@{SHA}"),
        ("dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest"),
        (f"docker.io/dmcgowan/myapp@{SHA}", f"docker.io/dmcgowan/myapp@{SHA}"),
        (f"busybox:latest@{SHA}", f"docker.io/library/busybox:latest@{SHA}"),
        ("example.com:5000/a/b:1.4-amd64", "example.com:5000/a/b:1.4-amd64"),
        (f"localhost:5000/app@{SHA512}", f"localhost:5000/app@{SHA512}"),
        # No slash means a Hub path even when it looks like a host (upstream FIXME).
        ("localhost:5000", "docker.io/library/localhost:5000"),
        ("192.168.0.1", "docker.io/library/192.168.0.1:latest"),
        ("example.com", "docker.io/library/example.com:latest"),
        # A 64-hex path is fine once a domain removes the ambiguity.
        ("docker.io/" + "a" * 64, "docker.io/library/" + "a" * 64 + ":latest"),
        ("a" * 63, "docker.io/library/" + "a" * 63 + ":latest"),
    ],
)
def test_canonical_string(text: str, canonical: str):
    assert str(parse_reference(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "docker-rules/docker",
        "docker---rules/docker",
        "dock__er/docker",
        "dock_er/do.cker",
        "d/docker",
        "jess/t",
        "a0/9z",
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "192.168.0.1:8/debian",
        "r/x:_under",
        "r/x:UPPER.case-1",
    ],
)
def test_valid_names(text: str):
    parse_reference(text)


def test_default_tag_is_added_only_without_tag_or_digest():
    assert parse_reference("app").tag == "latest"
    assert parse_reference("app:1").tag == "1"
    assert parse_reference(f"app@{SHA}").tag is None
    assert parse_reference("app", default_tag=None).tag is None
    assert parse_reference("app", default_tag="edge").tag == "edge"


def test_tag_may_hold_uppercase_while_the_path_may_not():
    assert parse_reference("app:V1").tag == "V1"


# --- derived values --------------------------------------------------------------------


def test_docker_hub_registry_and_credential_key():
    ref = parse_reference("ubuntu")
    assert ref.is_docker_hub
    assert ref.registry == "registry-1.docker.io"
    assert ref.credential_key == "https://index.docker.io/v1/"
    assert ref.name == "docker.io/library/ubuntu"


def test_hub_api_host_spelt_out_shares_hub_credentials():
    ref = parse_reference("registry-1.docker.io/x/y")
    assert ref.is_docker_hub
    assert ref.registry == "registry-1.docker.io"
    assert ref.credential_key == "https://index.docker.io/v1/"


def test_other_registry_uses_its_domain_for_api_and_credentials():
    ref = parse_reference("localhost:5000/lab/app:1.4")
    assert not ref.is_docker_hub
    assert ref.registry == ref.credential_key == "localhost:5000"
    assert ref.name == "localhost:5000/lab/app"


def test_identifier_is_tag_or_digest():
    assert parse_reference("app:1.4").identifier == "1.4"
    assert parse_reference(f"app@{SHA}").identifier == SHA


def test_identifier_of_a_bare_name_is_an_error():
    ref = parse_reference("app", default_tag=None)
    with pytest.raises(InvalidReferenceError, match="has no tag or digest"):
        _ = ref.identifier


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("ubuntu", "ubuntu:latest"),
        ("docker.io/foo/bar:1", "foo/bar:1"),
        ("library/foo/bar", "library/foo/bar:latest"),
        ("docker.io/other/library", "other/library:latest"),
        (f"busybox:latest@{SHA}", f"busybox:latest@{SHA}"),
        ("localhost:5000/app:1", "localhost:5000/app:1"),
        ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase:latest"),
    ],
)
def test_familiar_form(text: str, familiar: str):
    assert parse_reference(text).familiar() == familiar


def test_with_tag_replaces_tag_and_drops_digest():
    ref = parse_reference(f"org/app:1.4@{SHA}").with_tag("1.4-arm64")
    assert ref == Reference("docker.io", "org/app", tag="1.4-arm64", digest=None)


def test_with_digest_keeps_the_tag():
    ref = parse_reference("org/app:1.4").with_digest(SHA)
    assert str(ref) == f"docker.io/org/app:1.4@{SHA}"
    assert ref.identifier == SHA


def test_with_tag_and_with_digest_validate():
    ref = parse_reference("org/app")
    with pytest.raises(InvalidReferenceError, match='invalid tag "-x"'):
        ref.with_tag("-x")
    with pytest.raises(InvalidReferenceError, match='invalid digest "sha256:abc"'):
        ref.with_digest("sha256:abc")


def test_reference_is_frozen_and_hashable():
    ref = parse_reference("app")
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]
    assert {ref, parse_reference("docker.io/library/app:latest")} == {ref}


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty reference"),
        ("Ubuntu", 'repository name "Ubuntu" must be lowercase'),
        ("docker.io/docker/Docker", 'repository name "docker/Docker" must be lowercase'),
        ("ghcr.io/MyOrg/app:1", '"MyOrg/app" must be lowercase (use "myorg/app")'),
        ("localhost:5000/Foo", '"Foo" must be lowercase'),
        ("foo/", "ends with a slash"),
        ("docker/", "ends with a slash"),
        ("/foo", "starts with a slash"),
        ("docker///docker", "empty path component"),
        ("docker.io/docker///docker", "empty path component"),
        ("example.com/", "missing repository name after the domain"),
        (":tag", "missing name"),
        (f"@{SHA}", "missing name"),
        ("foo bar", 'invalid characters: " "'),
        ("foo/b!r$", 'invalid characters: "!", "$"'),
        ("https://github.com/docker/docker", 'domain "https:" has no port number'),
        ("-docker", 'path component "-docker" must start and end'),
        ("-docker/docker", 'path component "-docker"'),
        ("docker-/docker", 'path component "docker-"'),
        ("____/____", 'path component "____"'),
        ("_docker/_docker", 'path component "_docker"'),
        ("a/dock_.er", 'path component "dock_.er"'),
        ("a/dock-.er", 'path component "dock-.er"'),
        ("dock_.er/docker", 'domain "dock_.er" contains invalid characters: "_"'),
        ("a/dock___er", 'path component "dock___er"'),
        ("dock..er/docker", 'domain "dock..er" is not a valid host[:port]'),
        ("-docker.io/docker/docker", 'domain "-docker.io" is not a valid host[:port]'),
        ("a_b.c/d", 'domain "a_b.c" contains invalid characters: "_"'),
        ("foo:bar/baz", 'port "bar" in domain "foo:bar" must be a number'),
        ("fc00::1:5000/debian", "must be in brackets"),
        ("::1/x", "must be in brackets"),
        ("[fe80::1%eth0]:5000/debian", 'invalid characters: "%"'),
        ("[2001:db8:3:4::192.0.2.33]:5000/debian", "is not a valid host[:port]"),
        ("[fc00::1]", 'contains invalid characters: "["'),
        ("[fc00::1]:5000", 'repository name "[fc00::1]" contains invalid characters: "["'),
        ("foo:", "empty tag"),
        ("foo:-x", 'tag "-x" must start with a letter, digit or underscore'),
        ("foo:.x", 'tag ".x" must start'),
        ("foo:a+b", 'tag "a+b" contains invalid characters: "+"'),
        ("foo@", "empty digest"),
        ("foo@sha256", "digest must be sha256: followed by 64 lowercase hex characters"),
        ("foo@sha256:" + "A" * 64, "64 lowercase hex characters"),
        ("foo@sha256:" + "a" * 65, "64 lowercase hex characters"),
        ("foo@sha512:" + "a" * 64, "sha512: followed by 128 lowercase hex characters"),
        ("foo@md5:" + "a" * 32, 'unsupported digest algorithm "md5"'),
        ("foo@sha256:" + "a" * 64 + "@x", "64 lowercase hex characters"),
        ("foo@nocolon", "digest must be ALGORITHM:HEX"),
        ("a\nb", 'invalid characters: "\\n"'),
    ],
)
def test_invalid_reference_says_what_is_wrong(text: str, expected: str):
    message = invalid(text)
    assert message.startswith("invalid reference ")
    assert expected in message


def test_every_error_quotes_the_input_on_one_line():
    for text in ("foo/Bar", "r/x@sha256:abc", "tab\there", "new\nline/x"):
        message = invalid(text)
        quoted = text.replace("\t", "\\t").replace("\n", "\\n")
        assert f'"{quoted}"' in message


def test_uppercase_hint_is_omitted_when_lowercase_would_still_be_invalid():
    message = invalid("Foo/Ba$r")
    assert "must be lowercase" in message and "(use" not in message


def test_errors_are_usage_errors_with_exit_code_2():
    with pytest.raises(UsageError) as caught:
        parse_reference("foo/Bar")
    assert caught.value.exit_code == 2


# --- parse_digest ----------------------------------------------------------------------


@pytest.mark.parametrize("digest", [SHA, SHA512, "sha384:" + "ab" * 48])
def test_parse_digest_accepts_supported_algorithms(digest: str):
    assert parse_digest(digest) == digest


@pytest.mark.parametrize(
    "digest",
    ["", "sha256", "sha256:", "sha256:abc", SHA.upper(), SHA + "0", "md5:" + "a" * 32, " " + SHA],
)
def test_parse_digest_refuses_malformed_digests(digest: str):
    with pytest.raises(InvalidReferenceError) as caught:
        parse_digest(digest)
    assert str(caught.value).startswith("invalid digest ")


# --- is_loopback_host ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:5000",
        "LOCALHOST:5000",
        "registry.localhost",
        "a.b.localhost:443",
        "127.0.0.1",
        "127.0.0.1:5056",
        "127.255.0.9:80",
        "::1",
        "[::1]",
        "[::1]:5000",
        "[0:0:0:0:0:0:0:1]:5000",
        "[::ffff:127.0.0.1]:5000",
    ],
)
def test_loopback_hosts(host: str):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "docker.io",
        "example.com:5000",
        "localhost.example.com",
        "notlocalhost",
        "10.0.0.5:5000",
        "192.168.1.1",
        "128.0.0.1",
        "[::2]:5000",
        "[fe80::1]",
        "registry.local",
        "",
    ],
)
def test_non_loopback_hosts(host: str):
    assert not is_loopback_host(host)


def test_reference_domain_feeds_loopback_check():
    assert is_loopback_host(parse_reference("[::1]:5000/x").domain)
    assert not is_loopback_host(parse_reference("ubuntu").domain)
