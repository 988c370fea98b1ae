"""The database schema and its migrations: SQLite's, versioned by ``PRAGMA
user_version``, and PostgreSQL's, versioned in a table of its own.

Each migration is a list of statements that takes the schema from version ``i`` to
``i + 1``; the store applies the missing ones in one transaction. Both engines have the
same versions and the same tables and columns (PostgreSQL's types spelled its way, and
a table for the daemon's presence, which SQLite keeps in a file lock). Append, never
edit.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "POSTGRES_MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: credentials, harvest history, leases, refresh requests.
    (
        """
        CREATE TABLE credentials (
            provider     TEXT NOT NULL,
            profile      TEXT NOT NULL,
            generation   INTEGER NOT NULL,
            status       TEXT NOT NULL CHECK (status IN ('fresh', 'stale', 'invalid')),
            last_error   TEXT,
            harvested_at REAL NOT NULL,
            expires_at   REAL,
            updated_at   REAL NOT NULL,
            body         TEXT NOT NULL,  -- JSON: agent, headers, cookies, tokens, proxy
            PRIMARY KEY (provider, profile)
        )
        """,
        """
        CREATE TABLE attempts (
            id       INTEGER PRIMARY KEY,
            provider TEXT NOT NULL,
            profile  TEXT NOT NULL,
            started  REAL NOT NULL,
            duration REAL NOT NULL,
            ok       INTEGER NOT NULL CHECK (ok IN (0, 1)),
            error    TEXT
        )
        """,
        "CREATE INDEX attempts_by_key ON attempts (provider, profile, id)",
        """
        CREATE TABLE leases (
            provider   TEXT NOT NULL,
            profile    TEXT NOT NULL,
            holder     TEXT NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (provider, profile)
        )
        """,
        """
        CREATE TABLE refresh_requests (
            -- AUTOINCREMENT: an id is never reused, so a waiting client cannot mistake
            -- a later request for its own.
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            provider     TEXT NOT NULL,
            profile      TEXT NOT NULL,
            requested_at REAL NOT NULL,
            reason       TEXT,
            taken_by     TEXT,
            taken_until  REAL
        )
        """,
        "CREATE INDEX refresh_requests_by_key ON refresh_requests (provider, profile)",
    ),
    # 1 -> 2: cool-downs (a profile a site rate-limited rests until ``until``).
    (
        """
        CREATE TABLE cooldowns (
            provider TEXT NOT NULL,
            profile  TEXT NOT NULL,
            until    REAL NOT NULL,
            reason   TEXT,
            PRIMARY KEY (provider, profile)
        )
        """,
    ),
    # 2 -> 3: a refresh request names the credential its asker found wanting: one
    # harvested after that answers it, whenever the request was made.
    ("ALTER TABLE refresh_requests ADD COLUMN newer_than REAL",),
    # 3 -> 4: facts about the store itself (whether its secrets are sealed, and how).
    ("CREATE TABLE store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",),
    # 4 -> 5: keeper leases: which daemon of a fleet keeps each (provider, profile).
    (
        """
        CREATE TABLE keepers (
            provider   TEXT NOT NULL,
            profile    TEXT NOT NULL,
            holder     TEXT NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (provider, profile)
        )
        """,
    ),
    # 5 -> 6: nothing here (PostgreSQL's change notifications; SQLite clients poll).
    (),
)

POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: credentials, harvest history, leases, refresh requests.
    (
        """
        CREATE TABLE credentials (
            provider     text NOT NULL,
            profile      text NOT NULL,
            generation   bigint NOT NULL,
            status       text NOT NULL CHECK (status IN ('fresh', 'stale', 'invalid')),
            last_error   text,
            harvested_at double precision NOT NULL,
            expires_at   double precision,
            updated_at   double precision NOT NULL,
            body         text NOT NULL,
            PRIMARY KEY (provider, profile)
        )
        """,
        """
        CREATE TABLE attempts (
            id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            provider text NOT NULL,
            profile  text NOT NULL,
            started  double precision NOT NULL,
            duration double precision NOT NULL,
            ok       integer NOT NULL CHECK (ok IN (0, 1)),
            error    text
        )
        """,
        "CREATE INDEX attempts_by_key ON attempts (provider, profile, id)",
        """
        CREATE TABLE leases (
            provider   text NOT NULL,
            profile    text NOT NULL,
            holder     text NOT NULL,
            expires_at double precision NOT NULL,
            PRIMARY KEY (provider, profile)
        )
        """,
        """
        CREATE TABLE refresh_requests (
            -- An identity is never reused, as SQLite's AUTOINCREMENT.
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            provider     text NOT NULL,
            profile      text NOT NULL,
            requested_at double precision NOT NULL,
            reason       text,
            taken_by     text,
            taken_until  double precision
        )
        """,
        "CREATE INDEX refresh_requests_by_key ON refresh_requests (provider, profile)",
    ),
    # 1 -> 2: cool-downs.
    (
        """
        CREATE TABLE cooldowns (
            provider text NOT NULL,
            profile  text NOT NULL,
            until    double precision NOT NULL,
            reason   text,
            PRIMARY KEY (provider, profile)
        )
        """,
    ),
    # 2 -> 3: what a refresh request's asker found wanting; the daemon's presence (a
    # heartbeat row: no file lock reaches across machines).
    (
        "ALTER TABLE refresh_requests ADD COLUMN newer_than double precision",
        """
        CREATE TABLE daemon_presence (
            role   text PRIMARY KEY,
            holder text NOT NULL,
            pid    integer NOT NULL,
            until  double precision NOT NULL
        )
        """,
    ),
    # 3 -> 4: facts about the store itself.
    ("CREATE TABLE store_meta (name text PRIMARY KEY, value text NOT NULL)",),
    # 4 -> 5: keeper leases.
    (
        """
        CREATE TABLE keepers (
            provider   text NOT NULL,
            profile    text NOT NULL,
            holder     text NOT NULL,
            expires_at double precision NOT NULL,
            PRIMARY KEY (provider, profile)
        )
        """,
    ),
    # 5 -> 6: every change of a credential or a cool-down is announced on the channel
    # session_harvest as "provider<US>profile": clients drop it from memory at once.
    (
        """
        CREATE FUNCTION session_harvest_announce() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('session_harvest', NEW.provider || chr(31) || NEW.profile);
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """,
        """
        CREATE TRIGGER credentials_announced AFTER INSERT OR UPDATE ON credentials
        FOR EACH ROW EXECUTE FUNCTION session_harvest_announce()
        """,
        """
        CREATE TRIGGER cooldowns_announced AFTER INSERT OR UPDATE ON cooldowns
        FOR EACH ROW EXECUTE FUNCTION session_harvest_announce()
        """,
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
assert len(POSTGRES_MIGRATIONS) == SCHEMA_VERSION, "both engines have every version"
