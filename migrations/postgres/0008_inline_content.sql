-- Small content kept in the metadata database instead of the blob store: an object store
-- pays a whole request for each tiny object, where a row costs a little more of a
-- transaction that runs anyway. A row is written in the same transaction as the file
-- version that points to it, so it is never there without a reference at first; `gc`
-- removes rows that nothing references any more, as it removes blobs. `key` has the form
-- of a blob key (`user/<user id>/inline-<uuid>`); times are milliseconds since the epoch.
CREATE TABLE inline_blobs (
    key        TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
