-- 0013: RSL (Really Simple Licensing 1.0) license documents named by robots.txt `License:` lines, and their
-- terms (provenance.rsl). The consent signals they make land in robots_signals (source 'rsl') under the
-- robots.txt snapshot that named the license; these two tables keep what the license said and how we got it.

-- One row per (robots.txt snapshot, license URL): whether the license could be read, and why not.
CREATE TABLE rsl_licenses (
    snapshot_id   VARCHAR NOT NULL,           -- the robots.txt snapshot whose `License:` line names the license
    host          VARCHAR NOT NULL,           -- the robots.txt host (the host the terms apply to)
    license_url   VARCHAR NOT NULL,           -- the `License:` value resolved against the robots.txt URL
    line          INTEGER,                    -- its line in robots.txt
    origin        VARCHAR,                    -- live | folder (--rsl-dir) | none (not fetched)
    fetched_at    TIMESTAMPTZ,
    http_status   INTEGER,
    status        VARCHAR NOT NULL,           -- parsed | not_fetched | unavailable | unreachable | blocked | refused | invalid
    reason        VARCHAR,                    -- why not parsed (never document content beyond a short escaped excerpt)
    sha256        VARCHAR,                    -- of the license bytes read
    n_bytes       BIGINT,
    contents      INTEGER,                    -- <content> elements read
    imported_at   TIMESTAMPTZ NOT NULL
);

-- One row per term of a parsed license: each permits/prohibits token, and each payment.
CREATE TABLE rsl_terms (
    snapshot_id   VARCHAR NOT NULL,
    host          VARCHAR NOT NULL,
    license_url   VARCHAR NOT NULL,
    content_no    INTEGER NOT NULL,           -- position of the <content> element (1-based)
    content_url   VARCHAR,                    -- its url attribute as written (bounded)
    scope         VARCHAR,                    -- the path pattern it covers on this host; NULL: another host / unusable
    applies       BOOLEAN NOT NULL,           -- covers this host (only such terms make signals)
    server        VARCHAR,                    -- the <content server> license server, if any
    license_no    INTEGER,                    -- position of the <license> element within its <content> (1-based)
    kind          VARCHAR NOT NULL,           -- permits | prohibits | payment
    type          VARCHAR,                    -- usage | user | geo (permits/prohibits); the payment type (payment)
    value         VARCHAR,                    -- one token (permits/prohibits); NULL for payment
    payment_type  VARCHAR,                    -- payment: its type; permits/prohibits: the license's payment type(s), comma-joined
    amount        VARCHAR,                    -- payment: <amount> as written (a decimal string)
    currency      VARCHAR,                    -- payment: <amount currency>
    standard_url  VARCHAR,                    -- payment: <standard>
    custom_url    VARCHAR                     -- payment: <custom>
);
