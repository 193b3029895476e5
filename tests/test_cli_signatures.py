"""typer reads a command's signature when the command runs; a string annotation (what
`from __future__ import annotations` makes of every one) costs it an eval() each, about a
hundred per command. The command modules therefore carry real annotations."""

import importlib
import inspect

import pytest

from manifestor.cli.app import COMMANDS, main_options


def _string_annotations(function: object) -> list[str]:
    parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    return [p.name for p in parameters if isinstance(p.annotation, str)]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_signatures_need_no_evaluation(name):
    module, function = COMMANDS[name]
    command = getattr(importlib.import_module(f"manifestor.cli.{module}"), function)
    assert _string_annotations(command) == [], name


def test_global_options_need_no_evaluation():
    assert _string_annotations(main_options) == []
