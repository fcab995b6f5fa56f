-- WebDAV: app passwords for Basic-auth clients, and the dead properties clients set with
-- PROPPATCH. Times are milliseconds since the epoch, UTC.

-- An app password is shown once; only its SHA-256 is kept (it has 256 random bits, so a
-- fast hash is enough). Revoking deletes the row.
CREATE TABLE app_passwords (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,              -- case-folded name, unique per user
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX app_passwords_user_name ON app_passwords(user_id, name_key);

-- Properties are keyed by entry id ('root' for the user's root), so they follow a file
-- across new versions.
CREATE TABLE dav_properties (
    user_id   TEXT NOT NULL REFERENCES users(id),
    entry_id  TEXT NOT NULL,
    namespace TEXT NOT NULL,                -- '' for none
    name      TEXT NOT NULL,
    prefix    TEXT,
    xml       BLOB NOT NULL,
    PRIMARY KEY (user_id, entry_id, namespace, name)
);
