"""``motcua dlq list``, ``motcua dlq show`` and ``motcua dlq replay``: the dead letters
(from the SQL store when there is one, else the DLQ topic: :mod:`motcua.dlqview`), one of
them whole, and re-publishing them exactly as they came (:mod:`runtime.replay` has the
rules: idempotent, recorded, still-invalid letters left where they are)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from motcua.dlqview import Entry
    from runtime.replay import Filters
    from runtime.settings import Settings

dlq_app = typer.Typer(help="Dead letters: list them, show one, re-publish them once fixed.",
                      no_args_is_help=True)

_LOCAL = timezone(timedelta(hours=7))
BOOTSTRAP_HELP = ("Kafka host:port; default MOTCUA_KAFKA_BOOTSTRAP, else the broker of a "
                  "running motcua demo (<data dir>/broker.addr)")
REASON_HELP = "only letters whose reason contains this text"
SOURCE_HELP = "only letters of events with this CloudEvents source"
SINCE_HELP = "only letters written at or after this ISO 8601 date or time (local +07:00)"


class Where(StrEnum):
    """Where ``list`` and ``show`` read the letters."""

    auto = "auto"
    store = "store"
    broker = "broker"


FROM_HELP = ("auto: the SQL store (MOTCUA_DATABASE_URL) when it exists, else the broker; "
             "store; broker (the DLQ topic)")


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")


def parse_since(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 date or date-time (no offset: Vietnam time)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_LOCAL)
    return when.timestamp()


def _setup(bootstrap: str | None, reason: str | None, source: str | None,
           since: str | None) -> tuple[Settings, str, Filters]:
    from runtime.broker import broker_file, demo_broker
    from runtime.replay import Filters
    from runtime.settings import load_settings

    settings = load_settings(**({"kafka_bootstrap": bootstrap} if bootstrap else {}))
    if not settings.kafka_bootstrap:
        found = demo_broker(settings)
        if found is None:
            typer.echo("motcua dlq needs the broker: set MOTCUA_KAFKA_BOOTSTRAP, pass "
                       f"--bootstrap, or run motcua demo (it writes {broker_file(settings)})",
                       err=True)
            raise typer.Exit(2)
        settings = settings.model_copy(update={"kafka_bootstrap": found})
    return settings, str(settings.kafka_bootstrap), Filters(reason, source,
                                                             parse_since(since))


def _entries(where: Where, bootstrap: str | None, reason: str | None, source: str | None,
             since: str | None) -> list[Entry]:
    from motcua.dlqview import from_broker, from_store
    from runtime.replay import Filters
    from runtime.settings import load_settings

    if where is not Where.broker:
        settings = load_settings()
        filters = Filters(reason, source, parse_since(since))
        found = from_store(settings.database_url.get_secret_value(), filters)
        if found is not None:
            typer.echo(f"from the SQL store {settings.database_url_shown()}", err=True)
            return found
        if where is Where.store:
            typer.echo(f"no SQL store at {settings.database_url_shown()} (set "
                       "MOTCUA_DATABASE_URL, or --from broker)", err=True)
            raise typer.Exit(2)
    settings, servers, filters = _setup(bootstrap, reason, source, since)
    typer.echo(f"from the DLQ topic {settings.topics.dlq} on {servers}", err=True)
    return from_broker(settings, servers, filters)


@dlq_app.command("list")
def list_(
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    source: str | None = typer.Option(None, "--source", help=SOURCE_HELP),
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    where: Where = typer.Option(Where.auto, "--from", help=FROM_HELP),
    bootstrap: str | None = typer.Option(None, "--bootstrap", help=BOOTSTRAP_HELP),
) -> None:
    """One line per dead letter (tab-separated): id, time, origin, source, key, headers,
    reason. ``motcua dlq show ID`` prints one whole."""
    from motcua.dlqview import list_line

    letters = _entries(where, bootstrap, reason, source, since)
    for entry in letters:
        typer.echo(list_line(entry))
    typer.echo(f"{len(letters)} dead letters")


@dlq_app.command("show")
def show(
    letter_id: str = typer.Argument(..., metavar="ID", help="an id that dlq list printed"),
    where: Where = typer.Option(Where.auto, "--from", help=FROM_HELP),
    bootstrap: str | None = typer.Option(None, "--bootstrap", help=BOOTSTRAP_HELP),
) -> None:
    """One dead letter whole: id, time, origin, reason, source, subject, key, every header
    and the refused value."""
    from motcua.dlqview import shown, split_id

    try:
        split_id(letter_id)
    except ValueError:
        raise typer.BadParameter(f"{letter_id!r} is not an id of dlq list "
                                 "(topic:partition:offset)") from None
    for entry in _entries(where, bootstrap, None, None, None):
        if entry.id == letter_id:
            for line in shown(entry):
                typer.echo(line)
            return
    typer.echo(f"no dead letter {letter_id}", err=True)
    raise typer.Exit(1)


@dlq_app.command("replay")
def replay(
    reason: str | None = typer.Option(None, "--reason", help=REASON_HELP),
    source: str | None = typer.Option(None, "--source", help=SOURCE_HELP),
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would be re-published"),
    bootstrap: str | None = typer.Option(None, "--bootstrap", help=BOOTSTRAP_HELP),
) -> None:
    """Re-publish the matching letters exactly as they came (key, headers, value) to the
    events topic; each once (recorded in the data dir), only those valid now."""
    from runtime import replay as rp

    settings, servers, filters = _setup(bootstrap, reason, source, since)
    letters = rp.read_letters(settings, servers, filters)
    report = rp.replay(settings, servers, letters, dry_run=dry_run)
    for line in report.lines():
        typer.echo(("(dry run) " if dry_run else "") + line)
