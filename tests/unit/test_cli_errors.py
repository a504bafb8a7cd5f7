"""The command line alone turns exceptions into exit codes (motcua/cli.py): a
:class:`MotcuaError` ends a command with one red line and its ``exit_code`` (75 for
:class:`LogLost`, 1 otherwise), without a traceback; any other exception is not hidden."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from motcua.cli import MotcuaGroup, app, new_app
from schemas.errors import BadPeriod, LogLost, MotcuaError, NotIdle, TopicMismatch


def _app_raising(exc: BaseException) -> typer.Typer:
    cli = new_app()

    @cli.callback()
    def _root() -> None:
        pass

    @cli.command("fail")
    def _fail() -> None:
        raise exc

    return cli


@pytest.mark.parametrize(("exc", "code"), [
    (LogLost("partition 3 of motcua.kpi.v1 ends at 10 before offset 42 stored"), 75),
    (BadPeriod("period '2025-13' is not YYYY, YYYY-MM or YYYY-Qn"), 1),
    (TopicMismatch("topic 'x' has 2 partitions but is declared with 4"), 1),
    (NotIdle("pipeline not idle after 5s; lag {'ev': 3}"), 1),
])
def test_a_motcua_error_ends_the_command_with_its_exit_code(exc: MotcuaError,
                                                            code: int) -> None:
    result = CliRunner().invoke(_app_raising(exc), ["fail"])
    assert result.exit_code == code == exc.exit_code
    lines = result.output.strip().splitlines()
    assert lines == [f"error ({type(exc).__name__}): {exc}"], result.output
    assert "Traceback" not in result.output


def test_other_exceptions_are_not_swallowed() -> None:
    result = CliRunner().invoke(_app_raising(KeyError("bug")), ["fail"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
    assert "error (" not in result.output


def test_the_motcua_app_maps_errors_of_its_sub_commands() -> None:
    """Every registered command runs under the mapping (the root group does it)."""
    root = typer.main.get_command(app)
    assert isinstance(root, MotcuaGroup)
    assert {"demo", "ingest", "soak", "topics", "sink", "metrics"} <= set(root.commands)
