/**
 * The PostgreSQL schema: the same tables and rules as the SQLite one, in
 * PostgreSQL's dialect. Versioned like SQLite's; schema_migrations records how
 * far a database has come.
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE authorities (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'intermediate')),
    state TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'retired')),
    parent_id TEXT,
    cert_der BYTEA NOT NULL,
    upstream_chain TEXT NOT NULL DEFAULT '[]',
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    key_ref TEXT,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    tainted_at BIGINT
  );
  CREATE TABLE ca_state (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
  INSERT INTO ca_state (name, value) VALUES ('bundle_sequence', 0), ('crl_number', 0);
  -- CA private keys, PKCS#8 PEM encrypted with the key passphrase: replicas share them through the database.
  CREATE TABLE ca_keys (ref TEXT PRIMARY KEY, pem TEXT NOT NULL);
  CREATE TABLE certificates (
    id BIGSERIAL PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    spiffe_id TEXT NOT NULL,
    dns_names TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    public_key_sha256 TEXT NOT NULL,
    key_type TEXT NOT NULL,
    issuer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    agent TEXT,
    entry_id TEXT,
    issued_at BIGINT NOT NULL,
    cert_der BYTEA NOT NULL,
    revoked_at BIGINT,
    revocation_reason TEXT
  );
  CREATE INDEX certificates_by_spiffe_id ON certificates (spiffe_id, id);
  CREATE INDEX certificates_by_agent ON certificates (agent, id);
  CREATE INDEX certificates_by_not_after ON certificates (not_after);
  CREATE INDEX certificates_by_issuer ON certificates (issuer_id, not_after);
  CREATE INDEX certificates_by_issued_at ON certificates (issued_at, id);
  CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE FUNCTION meshca_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
  CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION meshca_audit_append_only();
  CREATE TABLE audit_checkpoints (
    id BIGSERIAL PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    signer_id TEXT NOT NULL,
    signature TEXT NOT NULL
  );
  CREATE TABLE join_tokens (
    hash TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    used_at BIGINT
  );
  CREATE INDEX join_tokens_by_agent ON join_tokens (agent);
  CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('active', 'evicted', 'banned')),
    attested_at BIGINT NOT NULL,
    last_seen BIGINT,
    svid_serial TEXT,
    svid_not_after BIGINT,
    status_changed_at BIGINT NOT NULL
  );
  CREATE TABLE entries (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    spiffe_id TEXT NOT NULL,
    ttl BIGINT,
    dns_names TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    UNIQUE (agent, spiffe_id)
  );
  `,
  // 2: "is this identity still registered?", asked per row of the identity listing
  `
  CREATE INDEX entries_by_spiffe_id ON entries (spiffe_id);
  `,
  // 3: a count of revocations, so that other replicas see their cached CRLs go stale
  `
  INSERT INTO ca_state (name, value) VALUES ('revocations', 0);
  `,
  // 4: CA keys no authority record names, set aside at start (PgKeyCustody.setAsideUnreferenced)
  `
  CREATE TABLE ca_keys_unreferenced (ref TEXT NOT NULL, pem TEXT NOT NULL, set_aside_at TIMESTAMPTZ NOT NULL DEFAULT now());
  `,
  // 5: where readiness writes, and removes, a row the size of a certificate's to learn that changes are taken again
  `
  CREATE TABLE write_probe (id BIGSERIAL PRIMARY KEY, filler BYTEA NOT NULL);
  `,
  // 6: identity listings and prefix filters compare IDs bytewise (COLLATE "C"), which the index in the
  // database's default collation cannot order; with this one a page of identities reads only its own records
  `
  CREATE INDEX certificates_by_spiffe_id_bytewise ON certificates (spiffe_id COLLATE "C", id);
  `,
  // 7: token list reads the tokens that can still admit an agent, in this order, without reading the spent ones;
  // a late token revoke says what spent the token
  `
  CREATE INDEX join_tokens_unspent ON join_tokens (expires_at, hash) WHERE used_at IS NULL;
  ALTER TABLE join_tokens ADD COLUMN spent_by TEXT;
  `,
  // 8: the admin credential a remote operator made a token with, so that the token dies with it (null: the local operator's)
  `
  ALTER TABLE join_tokens ADD COLUMN creator_serial TEXT;
  `,
];
