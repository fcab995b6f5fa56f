-- Resumable uploads (tus) and content stored once per account. Times are milliseconds
-- since the epoch, UTC.
--
-- An upload's bytes wait in the blob store (an S3 multipart upload plus a pending tail
-- object, or a partial file) until the last byte arrives; this row says where they are,
-- so an upload survives a restart and any server process can continue it. `parts` lists
-- the ETags of the uploaded parts in order (space-separated), `block_digests` the
-- content-hash digests of the whole 4 MiB blocks received. A PATCH holds the lease
-- (`lease_id` until `lease_until`), taken and released by compare-and-set, so two
-- requests never write one upload at once.
CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    length        BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    path          TEXT NOT NULL,
    if_match      TEXT,
    content_hash  TEXT,
    blob_key      TEXT NOT NULL,
    multipart_id  TEXT,
    parts         TEXT NOT NULL,
    tail_key      TEXT,
    block_digests BYTEA NOT NULL,
    lease_id      TEXT,
    lease_until   BIGINT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);

-- Dedup: an account's content by hash and size (every version, the current ones too).
CREATE INDEX file_versions_content ON file_versions(user_id, content_hash, size);
