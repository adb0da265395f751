-- Failed sign-ins per user name and per client address, shared by replicas, so
-- that guessing passwords at several issuers backs off as at one.

-- +goose Up
CREATE TABLE issuer_signin_failures (
    key       TEXT    PRIMARY KEY,
    failures  INTEGER NOT NULL,
    until     BIGINT  NOT NULL,
    forget_at BIGINT  NOT NULL
);
CREATE INDEX issuer_signin_failures_forget_at ON issuer_signin_failures (forget_at);

-- +goose Down
DROP TABLE issuer_signin_failures;
