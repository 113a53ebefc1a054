"""Versioned SQLite schema migrations, applied in order; PRAGMA user_version records the level."""

from __future__ import annotations

# Sets every document's log counters from its rows (migration 5, ``tandem db recount``).
RECOUNT_LOGS = """
    UPDATE documents SET
        log_updates = (SELECT count(*) FROM updates u WHERE u.api_key = documents.api_key
                       AND u.document_id = documents.document_id),
        log_bytes = (SELECT coalesce(sum(length(u.ciphertext)), 0) FROM updates u
                     WHERE u.api_key = documents.api_key
                     AND u.document_id = documents.document_id);
"""

MIGRATIONS: list[str] = [
    # 1: tenants, keys, documents, sessions, the update log and snapshots
    """
    CREATE TABLE api_keys (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        origins TEXT NOT NULL,
        jwks_url TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE public_keys (
        api_key TEXT NOT NULL REFERENCES api_keys(key) ON DELETE CASCADE,
        kid TEXT NOT NULL,
        jwk TEXT NOT NULL,
        added_at REAL NOT NULL,
        PRIMARY KEY (api_key, kid)
    );
    CREATE TABLE documents (
        api_key TEXT NOT NULL REFERENCES api_keys(key) ON DELETE CASCADE,
        document_id TEXT NOT NULL,
        head INTEGER NOT NULL DEFAULT 0,
        active_session TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (api_key, document_id)
    );
    CREATE TABLE sessions (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        key_hint TEXT NOT NULL,
        salt BLOB NOT NULL,
        iterations INTEGER NOT NULL,
        wrapped_key BLOB NOT NULL,
        creator TEXT NOT NULL,
        created_at REAL NOT NULL,
        start_seq INTEGER NOT NULL,
        PRIMARY KEY (api_key, document_id, session_id),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    );
    CREATE TABLE updates (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        counter INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (api_key, document_id, seq),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE client_counters (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        client_id TEXT NOT NULL,
        max_counter INTEGER NOT NULL,
        max_seq INTEGER NOT NULL,
        PRIMARY KEY (api_key, document_id, session_id, client_id),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        api_key TEXT NOT NULL,
        document_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (api_key, document_id),
        FOREIGN KEY (api_key, document_id)
            REFERENCES documents(api_key, document_id) ON DELETE CASCADE
    );
    """,
    # 2: exact de-duplication of re-sent updates: look the update up by its
    # (client, counter); fall back to a per-client horizon only for compacted ones.
    """
    CREATE UNIQUE INDEX updates_by_client
        ON updates (api_key, document_id, session_id, client_id, counter);
    ALTER TABLE client_counters ADD COLUMN compacted_counter INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: a client id is bound to the user who first stored an update under it (NULL for
    # rows from before: bound by their next update)
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
        number INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name BLOB,
        created_at REAL NOT NULL,
        editors TEXT NOT NULL,
        ciphertext BLOB NOT NULL,
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
    # 5: per-document log counters, kept by every append and prune in the same
    # transaction, so a document's size is read in O(1) (it was a scan of its whole
    # log on every hub load and after every checkpoint).
    """
    ALTER TABLE documents ADD COLUMN log_updates INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE documents ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
    """
    + RECOUNT_LOGS,
]
