-- The issuer's sign-in state. Portable SQL: the same file runs on SQLite and
-- PostgreSQL. Times are Unix milliseconds; tokens are kept as SHA-256 hashes.

-- +goose Up
CREATE TABLE issuer_codes (
    hash       TEXT   PRIMARY KEY,
    client     TEXT   NOT NULL,
    redirect   TEXT   NOT NULL,
    state      TEXT   NOT NULL,
    nonce      TEXT   NOT NULL,
    scope      TEXT   NOT NULL,
    challenge  TEXT   NOT NULL,
    sub        TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX issuer_codes_expires_at ON issuer_codes (expires_at);

-- One row per sign-in; expires_at is its newest token's expiry.
CREATE TABLE issuer_families (
    family     TEXT    PRIMARY KEY,
    revoked    INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX issuer_families_expires_at ON issuer_families (expires_at);

-- A used token stays (used = 1) while its family lives, to catch its replay.
CREATE TABLE issuer_refresh_tokens (
    hash       TEXT    PRIMARY KEY,
    family     TEXT    NOT NULL,
    client     TEXT    NOT NULL,
    sub        TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    auth_time  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX issuer_refresh_tokens_family ON issuer_refresh_tokens (family);

CREATE TABLE issuer_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE issuer_secrets;
DROP TABLE issuer_refresh_tokens;
DROP TABLE issuer_families;
DROP TABLE issuer_codes;
