"""``motcua token add|list|revoke``: the HTTP ingest's bearer tokens. Only their SHA-256
hashes are written (to MOTCUA_INGEST_TOKENS_FILE, default under the data dir); a running
ingest picks changes up at once (:mod:`consumers.http_ingest.tokens`)."""

from __future__ import annotations

import typer

token_app = typer.Typer(help="Bearer tokens of the HTTP ingest (stored as hashes).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")


@token_app.command("add")
def add(
    source: list[str] = typer.Option(..., "--source",
                                     help="an event source this token may send (repeatable)"),
) -> None:
    """Make a token for these sources. Its id and sources are printed first; the token
    itself alone on the last line — it is shown only this once."""
    from consumers.http_ingest.tokens import add_token
    from runtime.settings import load_settings

    path = load_settings().tokens_file
    token, grant = add_token(path, source)
    typer.echo(f"token {grant.id} for {', '.join(sorted(grant.sources))} (hash added to "
               f"{path}); keep it secret, it is not stored:")
    typer.echo(token)


@token_app.command("list")
def list_() -> None:
    """One line per token: id, created, sources (never the token: only hashes are kept)."""
    from consumers.http_ingest.tokens import read_grants
    from runtime.settings import load_settings

    grants = read_grants(load_settings().tokens_file)
    for grant in grants.values():
        typer.echo(f"{grant.id}\t{grant.created}\t{', '.join(sorted(grant.sources))}")
    typer.echo(f"{len(grants)} tokens")


@token_app.command("revoke")
def revoke(token_id: str = typer.Argument(..., help="the id shown by motcua token list")) -> None:
    """Remove a token; the running ingest refuses it from its next request."""
    from consumers.http_ingest.tokens import revoke_token
    from runtime.settings import load_settings

    if not revoke_token(load_settings().tokens_file, token_id):
        typer.echo(f"no token with id {token_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {token_id}")
