-- Users, refresh tokens, entries (files and folders), share links and the change log.
-- The same tables as migrations/sqlite/0001_init.sql. Times are milliseconds since the
-- epoch, UTC. Keys compared for order use the "C" collation, so that listings sort
-- bytewise exactly like SQLite's default BINARY collation.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Position of the user's last change-log row; bumped inside each writing transaction,
    -- whose row lock serializes the user's writers.
    change_seq    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    expires_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE entries (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    parent_id    TEXT REFERENCES entries(id),
    kind         INTEGER NOT NULL,              -- 0 folder, 1 file: folders list first
    name         TEXT NOT NULL,
    name_key     TEXT COLLATE "C" NOT NULL,     -- case-folded name
    path         TEXT NOT NULL,
    path_key     TEXT COLLATE "C" NOT NULL,     -- case-folded path
    size         BIGINT,
    mime_type    TEXT,
    content_hash TEXT,
    version      BIGINT,
    blob_key     TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    deleted_at   BIGINT
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
    expires_at     BIGINT,
    max_downloads  BIGINT,
    download_count BIGINT NOT NULL DEFAULT 0,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL
);
CREATE INDEX shares_user ON shares(user_id, created_at);

CREATE TABLE changes (
    user_id    TEXT NOT NULL REFERENCES users(id),
    seq        BIGINT NOT NULL,
    op         TEXT NOT NULL,
    entry_id   TEXT NOT NULL,
    entry_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, seq)
);
