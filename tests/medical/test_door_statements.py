"""The door's hot statements on PostgreSQL stay within what psycopg converts once and caches
(`psycopg._queries`: at most 4096 bytes of SQL and 50 parameters; a larger query is parsed by
its regular expression on every call, which cost more than the round trips the folding saves)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.dialects import postgresql

from yikatong.medical import interface, visits

MAX_SQL_BYTES, MAX_PARAMETERS = 4096, 50  # psycopg._queries.MAX_CACHED_STATEMENT_LENGTH / _PARAMS


@pytest.mark.no_db
@pytest.mark.parametrize("statement", [
    interface._institution_query(with_nonce=True), interface._credential_and_institution_query(),
    interface._credential_institution_insured_query(), visits._settle_chained_statement(),
    visits._MESSAGE_INSERT.with_audit,
], ids=lambda statement: statement._name)
def test_the_door_statements_are_within_psycopgs_cached_conversion(statement):
    sql = statement._compiled(postgresql.dialect())[0]
    assert len(sql.encode()) <= MAX_SQL_BYTES
    assert len(set(re.findall(r"%\((\w+)\)s", sql))) <= MAX_PARAMETERS
