"""``motcua token add|list|revoke``: the token alone on the last line, only its hash in the
file, and the ingest's store picking changes up."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from consumers.http_ingest.tokens import TokenStore, token_hash
from motcua.cli import app


def test_token_commands_store_only_hashes_and_the_store_follows_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "tokens.jsonl"
    env = {"MOTCUA_INGEST_TOKENS_FILE": str(path)}
    runner = CliRunner()
    store = TokenStore(path)
    assert store.lookup("mct_nothing") is None

    added = runner.invoke(app, ["token", "add", "--source", "urn:a", "--source", "urn:b"],
                          env=env)
    assert added.exit_code == 0, added.output
    token = added.output.splitlines()[-1]
    assert token.startswith("mct_") and " " not in token and len(token) > 40
    text = path.read_text()
    assert token not in text and token_hash(token) in text
    grant = store.lookup(token)
    assert grant is not None and grant.sources == {"urn:a", "urn:b"}

    listed = runner.invoke(app, ["token", "list"], env=env)
    assert grant.id in listed.output and token not in listed.output
    assert "1 tokens" in listed.output

    assert runner.invoke(app, ["token", "revoke", grant.id], env=env).exit_code == 0
    assert store.lookup(token) is None
    assert runner.invoke(app, ["token", "revoke", grant.id], env=env).exit_code == 1
    assert runner.invoke(app, ["token", "add"], env=env).exit_code != 0  # a source needed
