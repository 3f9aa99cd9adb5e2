"""The PostgreSQL ledger's statements (see :mod:`._journal_postgres` for how they are used).

One table holds every run's entries, keyed by (run, key). ``holder`` is the token of the
store whose claim last marked the entry ``sent`` (it stays after the outcome, so a late
outcome from an earlier holder is refused); ``held_until`` is when that holder's lease plus
its request timeout end, from the database's clock (``now()``); an outcome clears it.
"""

from __future__ import annotations

from typing import Final

_COLUMNS: Final = (
    "key, state, contact_id, source, payload_digest, profile_id, error_code, attempts, "
    "updated_at, holder, held_until > now()"
)


def schema(table: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    run TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'done', 'failed')),
    contact_id TEXT NOT NULL,
    source TEXT NOT NULL,
    payload_digest TEXT NOT NULL,
    profile_id BIGINT,
    error_code TEXT,
    attempts INTEGER NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    holder TEXT,
    held_until TIMESTAMPTZ,
    PRIMARY KEY (run, key)
)"""


def held_index(table: str) -> str:
    """What the lease renewal and the release at close look up: the keys a holder holds."""
    return f"CREATE INDEX IF NOT EXISTS {table}_held ON {table} (run, holder) WHERE state = 'sent'"


class Statements:
    """Every statement, for one table."""

    def __init__(self, table: str) -> None:
        t = table
        #: run, keys, contact ids, sources, digests, updated_at, holder, hold seconds
        self.insert_new = f"""
INSERT INTO {t} AS j (run, key, state, contact_id, source, payload_digest, profile_id,
                      error_code, attempts, updated_at, holder, held_until)
SELECT %s, u.k, 'sent', u.c, u.s, u.d, NULL, NULL, 1, %s, %s,
       now() + make_interval(secs => %s)
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS u(k, c, s, d)
ORDER BY u.k
ON CONFLICT (run, key) DO NOTHING
RETURNING j.key"""
        #: run, keys -- rows another claim is deciding right now are skipped (held)
        self.lock_existing = f"""
SELECT {_COLUMNS} FROM {t}
WHERE run = %s AND key = ANY(%s::text[])
ORDER BY key
FOR UPDATE SKIP LOCKED"""
        #: contact_id, source, payload_digest, updated_at, holder, hold seconds, run, key
        self.mark_sent = f"""
UPDATE {t} SET state = 'sent', contact_id = %s, source = %s, payload_digest = %s,
    profile_id = NULL, error_code = NULL, attempts = attempts + 1, updated_at = %s,
    holder = %s, held_until = now() + make_interval(secs => %s)
WHERE run = %s AND key = %s"""
        #: run, key
        self.read = f"SELECT {_COLUMNS} FROM {t} WHERE run = %s AND key = %s"
        # Outcomes apply to a key no store claimed, or that this store claimed last: a key
        # taken over by another (this one's lease ran out) is that one's to settle. The
        # arrays hold one outcome per key: an UPDATE of the keys there, then an INSERT of
        # those that were not.
        outcomes = """unnest(%(k)s::text[], %(st)s::text[], %(c)s::text[], %(s)s::text[],
            %(d)s::text[], %(p)s::bigint[], %(e)s::text[], %(at)s::float8[])
    AS u(k, st, c, s, d, p, e, at)"""
        #: run, holder, and the arrays k, st, c, s, d, p, e, at
        self.mark_held = f"""
UPDATE {t} AS j SET
    state = u.st,
    contact_id = coalesce(u.c, j.contact_id),
    source = coalesce(u.s, j.source),
    payload_digest = coalesce(u.d, j.payload_digest),
    profile_id = u.p, error_code = u.e, updated_at = u.at, held_until = NULL
FROM {outcomes}
WHERE j.run = %(run)s AND j.key = u.k AND (j.holder IS NULL OR j.holder = %(holder)s)
RETURNING j.key"""
        #: run, and the arrays (of the keys the update did not find)
        self.mark_new = f"""
INSERT INTO {t} (run, key, state, contact_id, source, payload_digest, profile_id,
                 error_code, attempts, updated_at, holder, held_until)
SELECT %(run)s, u.k, u.st, coalesce(u.c, ''), coalesce(u.s, ''), coalesce(u.d, ''), u.p,
       u.e, 0, u.at, NULL, NULL
FROM {outcomes}
ORDER BY u.k
ON CONFLICT (run, key) DO NOTHING
RETURNING key"""
        #: hold seconds, run, holder
        self.renew = f"""
UPDATE {t} SET held_until = now() + make_interval(secs => %s)
WHERE run = %s AND holder = %s AND state = 'sent'"""
        #: grace seconds, run, holder -- a clean close ends the lease of what the store
        #: still holds sent (its requests were cancelled), but not the request timeout: a
        #: cancelled request may still land, so the next claimer waits that long and then
        #: reconciles
        self.release = f"""
UPDATE {t} SET held_until = now() + make_interval(secs => %s)
WHERE run = %s AND holder = %s AND state = 'sent'"""
