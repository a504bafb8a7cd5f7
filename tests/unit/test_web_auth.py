"""Logins of the web pages: argon2 hashes, the CSRF rule, the failed-login limiter."""

from __future__ import annotations

from pathlib import Path

from motcua.web.auth import (
    AttemptLimiter,
    check_password,
    csrf_ok,
    hash_password,
    new_password,
    session_secret,
)


def test_password_hash_is_argon2_and_checks() -> None:
    password = new_password()
    assert len(password) == 16
    stored = hash_password(password)
    assert stored.startswith("$argon2id$") and password not in stored
    assert check_password(stored, password)
    assert not check_password(stored, password + "x")
    assert not check_password("not a hash", password)


def test_csrf_rule() -> None:
    assert csrf_ok("tok", "tok", "http://127.0.0.1:8080")
    assert not csrf_ok("tok", "other", None)
    assert not csrf_ok(None, "tok", None)
    assert csrf_ok("tok", None, None)  # a script: no token, no Origin
    assert not csrf_ok("tok", None, "https://evil.example")  # a browser form from elsewhere
    assert not csrf_ok("tok", "", "http://127.0.0.1:8080")


def test_limiter_blocks_after_five_failures_then_frees_after_the_window() -> None:
    now = [1000.0]
    lim = AttemptLimiter(per_login=5, per_client=20, window=300, clock=lambda: now[0])
    for _ in range(4):
        lim.failed("1.2.3.4", "a")
    assert not lim.blocked("1.2.3.4", "a")
    lim.failed("1.2.3.4", "a")
    assert lim.blocked("1.2.3.4", "a")
    assert not lim.blocked("5.6.7.8", "a")  # another client
    assert not lim.blocked("1.2.3.4", "b")  # another login, same client: 5 < 20
    now[0] += 300.1
    assert not lim.blocked("1.2.3.4", "a")


def test_limiter_counts_every_login_of_a_client() -> None:
    lim = AttemptLimiter(per_login=5, per_client=20, window=300, clock=lambda: 0.0)
    for i in range(20):
        lim.failed("1.2.3.4", f"user{i}")
    assert lim.blocked("1.2.3.4", "fresh")


def test_session_secret_is_kept(tmp_path: Path) -> None:
    assert session_secret("given", tmp_path) == "given"
    first = session_secret(None, tmp_path)
    assert session_secret(None, tmp_path) == first and len(first) >= 48
    assert (tmp_path / "web-secret").stat().st_mode & 0o077 == 0
