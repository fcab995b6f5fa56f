-- Users, refresh tokens, entries (files and folders), share links and the change log.
-- Times are milliseconds since the epoch, UTC.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    -- Position of the user's last change-log row; bumped inside each writing transaction.
    change_seq    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    expires_at INTEGER NOT NULL,
    retired_at INTEGER
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE entries (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    parent_id    TEXT REFERENCES entries(id),
    kind         INTEGER NOT NULL,          -- 0 folder, 1 file: folders list first
    name         TEXT NOT NULL,
    name_key     TEXT NOT NULL,             -- case-folded name
    path         TEXT NOT NULL,
    path_key     TEXT NOT NULL,             -- case-folded path
    size         INTEGER,
    mime_type    TEXT,
    content_hash TEXT,
    version      INTEGER,
    blob_key     TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER
);
-- Names are unique per folder, case-insensitively, among live entries.
CREATE UNIQUE INDEX entries_live_path ON entries(user_id, path_key) WHERE deleted_at IS NULL;
CREATE INDEX entries_children ON entries(user_id, parent_id, kind, name_key) WHERE deleted_at IS NULL;
CREATE INDEX entries_blob ON entries(blob_key);

CREATE TABLE shares (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id),
    file_id        TEXT NOT NULL REFERENCES entries(id),
    token_hash     TEXT NOT NULL UNIQUE,
    expires_at     INTEGER,
    max_downloads  INTEGER,
    download_count INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);
CREATE INDEX shares_user ON shares(user_id, created_at);

CREATE TABLE changes (
    user_id    TEXT NOT NULL REFERENCES users(id),
    seq        INTEGER NOT NULL,
    op         TEXT NOT NULL,
    entry_id   TEXT NOT NULL,
    entry_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
);
