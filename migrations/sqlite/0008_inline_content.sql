-- Small content kept in the metadata database instead of the blob store: an object store
-- pays a whole request for each tiny object, and SQLite reads and writes small blobs
-- faster than the file system does. A row is written in the same transaction as the file
-- version that points to it, so it is never there without a reference at first; `gc`
-- removes rows that nothing references any more, as it removes blobs. `key` has the form
-- of a blob key (`user/<user id>/inline-<uuid>`); times are milliseconds since the epoch.
CREATE TABLE inline_blobs (
    key        TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
