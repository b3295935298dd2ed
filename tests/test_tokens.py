"""API tokens: an operator makes, lists and revokes the tokens applications present to `promptlab serve`."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from promptlab_nb.cli import cli
from promptlab_nb.core import errors
from promptlab_nb.schemas.api_tokens import ApiTokenRecord
from promptlab_nb.services.tokens import TokenService, check_may_write, use_is_unnoted
from promptlab_nb.store.models import ApiToken


def stored_tokens(lab) -> list[ApiToken]:
    with lab.db.session() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at)))


def create_token(lab, name: str, *, read_only: bool = False) -> str:
    with lab.db.session() as session:
        return TokenService(session).create(name, read_only=read_only).secret


def authenticate(lab, secret: str | None):
    with lab.db.session() as session:
        return TokenService(session).authenticate(secret)


def token_record(*, read_only: bool) -> ApiTokenRecord:
    return ApiTokenRecord(name="reader", prefix="plab_abcdefg", read_only=read_only, created_at=datetime(2026, 11, 30))


def run_tokens(*arguments: str):
    return CliRunner().invoke(cli, ["tokens", *arguments], catch_exceptions=False)


def test_a_new_token_is_stored_only_as_its_sha256_and_prefix(lab):
    # Given a store without tokens
    assert stored_tokens(lab) == []

    # When a token is made
    secret = create_token(lab, "billing-app")

    # Then the store has its SHA-256 and first characters, never the token itself
    [row] = stored_tokens(lab)
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(row.prefix) and len(row.prefix) < len(secret) // 3
    assert secret not in {row.name, row.token_hash, row.prefix, row.id}
    assert (row.name, row.read_only, row.revoked_at) == ("billing-app", False, None)


def note_use(lab, secret: str) -> None:
    with lab.db.session() as session:
        TokenService(session).note_use(secret)


def test_a_token_authenticates_and_its_last_use_is_noted(lab):
    # Given a read-only token
    secret = create_token(lab, "reader", read_only=True)

    # When an application presents it and its use is noted
    token = authenticate(lab, secret)
    note_use(lab, secret)

    # Then it is recognised, read-only, its first use was unnoted, and its use is stored
    assert (token.name, token.read_only, use_is_unnoted(token)) == ("reader", True, True)
    assert stored_tokens(lab)[0].last_used_at is not None


def test_a_use_is_noted_at_most_once_a_minute(lab):
    # Given a token whose use was just noted
    secret = create_token(lab, "reader", read_only=True)
    note_use(lab, secret)
    first_noted = stored_tokens(lab)[0].last_used_at

    # When it is used again within the minute
    token = authenticate(lab, secret)
    note_use(lab, secret)

    # Then the use needs no noting and the store keeps the first time
    assert not use_is_unnoted(token)
    assert stored_tokens(lab)[0].last_used_at == first_noted


@pytest.mark.parametrize("presented", [None, "", "plab_not-a-token"], ids=["absent", "empty", "unknown"])
def test_a_missing_or_unknown_token_is_rejected(lab, presented):
    # Given a store with one token
    create_token(lab, "reader")
    # When another is presented, or none
    # Then it is rejected with what to send instead
    with pytest.raises(errors.ApiTokenRejected, match="Authorization: Bearer"):
        authenticate(lab, presented)


def test_a_revoked_token_is_rejected_at_once_and_its_row_is_kept(lab):
    # Given a token in use
    secret = create_token(lab, "old-app")
    authenticate(lab, secret)

    # When it is revoked
    with lab.db.session() as session:
        TokenService(session).revoke("old-app")

    # Then it no longer authenticates, and the store still lists it as revoked
    with pytest.raises(errors.ApiTokenRejected):
        authenticate(lab, secret)
    assert stored_tokens(lab)[0].revoked_at is not None


def test_a_read_only_token_may_not_write():
    # Given a read-only token and a read-write one
    with_reads_only = token_record(read_only=True)
    with_writes = token_record(read_only=False)

    # When each asks to write, Then only the read-only one is refused, naming it
    check_may_write(with_writes)
    with pytest.raises(errors.ReadOnlyApiToken, match="'reader'"):
        check_may_write(with_reads_only)


def test_a_name_in_use_is_refused_until_that_token_is_revoked(lab):
    # Given a token named ci
    create_token(lab, "ci")

    # When another token is made with the same name, then after revoking the first
    with pytest.raises(errors.ApiTokenNameTaken, match="promptlab tokens revoke ci"):
        create_token(lab, "ci")
    with lab.db.session() as session:
        TokenService(session).revoke("ci")
    create_token(lab, "ci")

    # Then two rows exist, one of them revoked
    assert [row.revoked_at is None for row in stored_tokens(lab)] == [False, True]


def test_revoking_a_name_that_two_tokens_made_at_once_took_stops_both(lab):
    # Given two tokens named ci made at the same moment, each unit of work not yet seeing the other's
    with lab.db.session() as first:
        first_secret = TokenService(first).create("ci").secret
        with lab.db.session() as second:
            second_secret = TokenService(second).create("ci").secret

    # When ci is revoked
    with lab.db.session() as session:
        TokenService(session).revoke("ci")

    # Then neither token authenticates any more
    for secret in (first_secret, second_secret):
        with pytest.raises(errors.ApiTokenRejected):
            authenticate(lab, secret)
    assert [row.revoked_at is not None for row in stored_tokens(lab)] == [True, True]


@pytest.mark.parametrize("name", ["", "has space", "a/b"])
def test_a_token_name_that_is_not_plain_is_refused(lab, name):
    # Given a store without tokens
    # When a token is made with a name that is not plain, Then it is refused naming what a name may be
    with pytest.raises(errors.InvalidName, match="API token name"):
        create_token(lab, name)
    # Then nothing is stored
    assert stored_tokens(lab) == []


def test_revoking_a_token_that_does_not_exist_says_how_to_list_them(lab):
    # Given a store without tokens
    # When a token that does not exist is revoked, Then the error says how to list the tokens
    with lab.db.session() as session, pytest.raises(errors.ApiTokenNotFound, match="promptlab tokens list"):
        TokenService(session).revoke("nobody")


def test_a_new_token_shown_in_a_log_or_traceback_does_not_show_its_secret(lab):
    # Given a token just made
    with lab.db.session() as session:
        issued = TokenService(session).create("billing-app")

    # When it is shown as a log line or a traceback would show it
    shown = [repr(issued), str(issued)]

    # Then its name shows and its secret does not
    for text in shown:
        assert "billing-app" in text and issued.secret not in text


def test_tokens_create_prints_the_token_once_and_list_shows_it_without_the_secret(lab):
    # Given a store
    lab.close()

    # When an operator makes a read-only token and lists the tokens
    created = run_tokens("create", "dashboard", "--read-only", "--store", lab.url)
    listed = run_tokens("list", "--store", lab.url)

    # Then the token is printed once on stdout; the listing shows its name, prefix and access, not the token
    secret = created.stdout.strip()
    assert created.exit_code == 0 and secret.startswith("plab_")
    assert "not shown again" in created.stderr
    assert listed.exit_code == 0 and secret not in listed.stdout
    [line] = listed.stdout.splitlines()[1:]
    assert line.split("\t")[:3] == ["dashboard", f"{secret[:12]}...", "read-only"]
    assert authenticate(lab, secret).read_only


def test_tokens_revoke_stops_the_token(lab):
    # Given a token made from the command line
    lab.close()
    secret = run_tokens("create", "ci", "--store", lab.url).stdout.strip()

    # When it is revoked from the command line
    revoked = run_tokens("revoke", "ci", "--store", lab.url)

    # Then it says so and the token is rejected
    assert (revoked.exit_code, revoked.stdout.strip()) == (0, "Token 'ci' revoked.")
    with pytest.raises(errors.ApiTokenRejected):
        authenticate(lab, secret)


def test_a_mistake_on_the_command_line_is_one_line_and_exit_code_2(lab, tmp_path):
    # Given a store without tokens, and a store path with a typo
    # When a token is revoked that does not exist, and one is made on a store that does not exist
    unknown = run_tokens("revoke", "nobody", "--store", lab.url)
    no_store = run_tokens("create", "ci", "--store", str(tmp_path / "typo.duckdb"))

    # Then each prints one line saying what to do, with exit code 2, and no store file appears
    for result in (unknown, no_store):
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    assert "promptlab tokens list" in unknown.stderr
    assert "No store at" in no_store.stderr and not (tmp_path / "typo.duckdb").exists()
