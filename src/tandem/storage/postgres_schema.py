"""Versioned PostgreSQL schema migrations (table tandem_schema records the level)."""

from __future__ import annotations

# Sets every document's log counters from its rows (migration 5, ``tandem db recount``).
RECOUNT_LOGS = """
    UPDATE documents d SET
        log_updates = (SELECT count(*) FROM updates u
                       WHERE u.api_key = d.api_key AND u.document_id = d.document_id),
        log_bytes = (SELECT coalesce(sum(length(u.ciphertext)), 0) FROM updates u
                     WHERE u.api_key = d.api_key AND u.document_id = d.document_id);
"""

MIGRATIONS: list[str] = [
    # 1: tenants, keys, documents, sessions, the update log and snapshots
    """
    CREATE TABLE api_keys (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        origins TEXT NOT NULL,
        jwks_url TEXT,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE public_keys (
        api_key TEXT NOT NULL REFERENCES api_keys(key) ON DELETE CASCADE,
        kid TEXT NOT NULL,
        jwk TEXT NOT NULL,
        added_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (api_key, kid)
    );
    CREATE TABLE documents (
        api_key TEXT NOT NULL REFERENCES api_keys(key) ON DELETE CASCADE,
        document_id TEXT NOT NULL,
        head BIGINT NOT NULL DEFAULT 0,
        active_session TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (api_key, document_id)
    );
    CREATE TABLE sessions (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        key_hint TEXT NOT NULL,
        salt BYTEA NOT NULL,
        iterations INTEGER NOT NULL,
        wrapped_key BYTEA NOT NULL,
        creator TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        start_seq BIGINT NOT NULL,
        PRIMARY KEY (api_key, document_id, session_id),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    );
    CREATE TABLE updates (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        session_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        counter BIGINT NOT NULL,
        user_id TEXT NOT NULL,
        ciphertext BYTEA NOT NULL,
        PRIMARY KEY (api_key, document_id, seq),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    );
    CREATE TABLE client_counters (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        max_counter BIGINT NOT NULL,
        max_seq BIGINT NOT NULL,
        PRIMARY KEY (api_key, document_id, session_id, client_id),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    );
    CREATE TABLE snapshots (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        session_id TEXT NOT NULL,
        ciphertext BYTEA NOT NULL,
        PRIMARY KEY (api_key, document_id),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    );
    """,
    # 2: exact de-duplication of re-sent updates (see the SQLite schema)
    """
    CREATE UNIQUE INDEX updates_by_client
        ON updates (api_key, document_id, session_id, client_id, counter);
    ALTER TABLE client_counters ADD COLUMN compacted_counter BIGINT NOT NULL DEFAULT 0;
    """,
    # 3: a client id is bound to the user who first stored an update under it
    """
    ALTER TABLE client_counters ADD COLUMN user_id TEXT;
    """,
    # 4: version history. Every checkpoint is kept as a numbered version (the single
    # snapshot row is gone); updates stay after a checkpoint covers them, pruned only
    # outside the retention window (history_days). ``name`` is sealed by the client.
    """
    CREATE TABLE versions (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        number BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name BYTEA,
        created_at DOUBLE PRECISION NOT NULL,
        editors TEXT NOT NULL,
        ciphertext BYTEA NOT NULL,
        PRIMARY KEY (api_key, document_id, number),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    );
    INSERT INTO versions (api_key, document_id, number, seq, session_id, kind, name,
                          created_at, editors, ciphertext)
        SELECT s.api_key, s.document_id, 1, s.seq, s.session_id, 'auto', NULL,
               d.created_at, '[]', s.ciphertext
        FROM snapshots s JOIN documents d
            ON d.api_key = s.api_key AND d.document_id = s.document_id;
    DROP TABLE snapshots;
    """,
    # 5: per-document log counters (see the SQLite schema), kept by tandem_append and
    # the retention prune in their transactions
    """
    ALTER TABLE documents ADD COLUMN log_updates BIGINT NOT NULL DEFAULT 0,
                          ADD COLUMN log_bytes BIGINT NOT NULL DEFAULT 0;
    """
    + RECOUNT_LOGS,
]
