"""Issue 16: passwords where the syntax leaves no doubt are found however short (default and example credentials
such as scott/tiger, DB_PASS=bpm); prose, type annotations, flags and placeholders stay out. Found by the
independently labelled real set (tests/data/pii_real_labels.md)."""

from __future__ import annotations

import pytest

from provenance import pii


def _pw(text: str) -> list[str]:
    return [f.value for f in pii.detect(text) if f.type == "PASSWORD"]


@pytest.mark.parametrize("text, value", [
    ("engine = create_engine('postgresql+psycopg2://scott:tiger@127.0.0.1:5432/test')", "tiger"),
    ("url = oracle+cx_oracle://scott:tiger@oracle18c/freepdb1", "tiger"),           # scheme with "_"
    ("docker run -d -e ORACLE_PASSWORD=tiger -e ORACLE_DATABASE=test gvenzl/oracle-free", "tiger"),
    ("docker run --env MARIADB_PASSWORD=my_cool_secret --env MARIADB_DATABASE=db mariadb", "my_cool_secret"),
    ('<Resource name="jdbc/TestDB" username="scott" password="tiger" maxTotal="20"/>', "tiger"),
    ("    environment:\n      - DB_USER=bonita\n      - DB_PASS=bpm\n", "bpm"),
    ("CREATE USER scott IDENTIFIED BY tiger;", "tiger"),
    ("GRANT ALL ON *.* TO admin@localhost IDENTIFIED BY 's3cr3t' WITH GRANT OPTION;", "s3cr3t"),
])
def test_short_passwords_in_unambiguous_syntax(text, value):
    assert _pw(text) == [value]


@pytest.mark.parametrize("text", [
    "The bird can be identified by their species calls in the north.",      # prose, not SQL
    "ALTER USER app IDENTIFIED BY VALUES 'S:8F2D...';",                       # a hash, not a password
    "STRIPE_SECRET_KEY=sk_test_YOUR_SECRET_KEY\n",                            # a placeholder inside a value
    "    MYSQL_ALLOW_EMPTY_PASSWORD: 'yes'\n",                                  # a flag
    "class Login:\n    password: str\n",                                       # a type annotation
    "docker run -e MYSQL_ROOT_PASSWORD=my-secret-pw -d mysql:tag\n",          # generic words after "my"
    "The password is abc and it is short.",                                    # prose keeps the minimum
    "password = x1\n",                                                          # below three characters
])
def test_words_flags_and_placeholders_are_not_passwords(text):
    assert _pw(text) == []
