-- One random id per database, made when this migration runs. Delta cursors carry it, so a
-- cursor from another database (replaced, or re-created from scratch) is recognized.
CREATE TABLE database_identity (
    id TEXT PRIMARY KEY
);
INSERT INTO database_identity (id)
VALUES (md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text));
