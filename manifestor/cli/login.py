"""`manifestor login REGISTRY` and `manifestor logout REGISTRY`: check credentials, then
keep them where docker does (local/dockerconfig.py); or forget them."""

import sys
from typing import Annotated

import typer

from manifestor.cli import output
from manifestor.cli.options import InsecureOption, global_options
from manifestor.errors import UsageError


def login(
    ctx: typer.Context,
    registry: Annotated[
        str, typer.Argument(metavar="REGISTRY", help="host[:port]; docker.io for Docker Hub.")
    ],
    username: Annotated[str | None, typer.Option("--username", "-u", help="User name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    insecure: InsecureOption = False,
) -> None:
    """Check credentials against a registry, then store them like `docker login` does
    (the configured credential helper, else config.json auths, mode 0600)."""
    from manifestor.local.dockerconfig import store_credentials
    from manifestor.local.keychain import login_credentials
    from manifestor.model.reference import parse_registry

    opts = global_options(ctx)
    domain = parse_registry(registry)
    password = sys.stdin.read().rstrip("\r\n") if password_stdin else None
    credentials = login_credentials(username, password)
    if credentials is None:
        raise UsageError(
            "login needs --username and --password-stdin (or MANIFESTOR_USERNAME and "
            "MANIFESTOR_PASSWORD)"
        )
    user, secret = credentials
    with opts.client(insecure, user, secret, domain) as client:
        scheme = client.check_credentials(domain)
    if scheme == "none":
        output.note(f"note: {domain} asks for no authentication; storing the credentials anyway")
    where = store_credentials(opts.config_dir, domain, user, secret)
    output.note(f"credentials for {domain} stored in {where}")
    output.result("Login Succeeded")


def logout(
    ctx: typer.Context,
    registry: Annotated[str, typer.Argument(metavar="REGISTRY")],
) -> None:
    """Remove stored credentials for a registry."""
    from manifestor.local.dockerconfig import remove_credentials
    from manifestor.model.reference import parse_registry

    domain = parse_registry(registry)
    if remove_credentials(global_options(ctx).config_dir, domain):
        output.result(f"Removing login credentials for {domain}")
    else:
        output.note(f"not logged in to {domain}")
