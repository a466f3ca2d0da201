-- One row the health probe rewrites to test that the database can still
-- store writes (after a write failed for want of storage).
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    payload BYTEA NOT NULL
);
