/**
 * Versioned schema migrations, applied in order inside a transaction each;
 * PRAGMA user_version records how far a database has come. Never edit a
 * released migration: add the next one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: authorities, issued certificates, the audit log
  `
  CREATE TABLE authorities (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'intermediate')),
    state TEXT NOT NULL CHECK (state IN ('prepared', 'active', 'retired')),
    parent_id TEXT,
    cert_der BLOB NOT NULL,
    upstream_chain TEXT NOT NULL DEFAULT '[]',
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    key_ref TEXT,
    created_at INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at INTEGER
  );
  CREATE TABLE ca_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  INSERT INTO ca_state (name, value) VALUES ('bundle_sequence', 0);
  CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    spiffe_id TEXT NOT NULL,
    dns_names TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    public_key_sha256 TEXT NOT NULL,
    key_type TEXT NOT NULL,
    issuer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    agent TEXT,
    entry_id TEXT,
    issued_at INTEGER NOT NULL,
    cert_der BLOB NOT NULL,
    revoked_at INTEGER,
    revocation_reason TEXT
  );
  CREATE INDEX certificates_by_spiffe_id ON certificates (spiffe_id, id);
  CREATE INDEX certificates_by_agent ON certificates (agent, id);
  CREATE INDEX certificates_by_not_after ON certificates (not_after);
  CREATE INDEX certificates_by_issuer ON certificates (issuer_id, not_after);
  CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
  // 2: join tokens, agents, registration entries
  `
  CREATE TABLE join_tokens (
    hash TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    used_at INTEGER
  );
  CREATE INDEX join_tokens_by_agent ON join_tokens (agent);
  CREATE TABLE agents (
    name TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('active', 'evicted', 'banned')),
    attested_at INTEGER NOT NULL,
    last_seen INTEGER,
    svid_serial TEXT,
    svid_not_after INTEGER,
    status_changed_at INTEGER NOT NULL
  );
  CREATE TABLE entries (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    spiffe_id TEXT NOT NULL,
    ttl INTEGER,
    dns_names TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    UNIQUE (agent, spiffe_id)
  );
  `,
  // 3: signed checkpoints of the audit log's head
  `
  CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    at INTEGER NOT NULL,
    signer_id TEXT NOT NULL,
    signature TEXT NOT NULL
  );
  CREATE INDEX certificates_by_issued_at ON certificates (issued_at, id);
  `,
  // 4: a CRL number that only ever increases
  `
  INSERT INTO ca_state (name, value) VALUES ('crl_number', 0);
  `,
  // 5: tainted authorities, revoked in their parent's CRL
  `
  ALTER TABLE authorities ADD COLUMN tainted_at INTEGER;
  `,
  // 6: "is this identity still registered?", asked per row of the identity listing
  `
  CREATE INDEX entries_by_spiffe_id ON entries (spiffe_id);
  `,
  // 7: a count of revocations, so that another process sharing the file sees its CRLs go stale
  `
  INSERT INTO ca_state (name, value) VALUES ('revocations', 0);
  `,
  // 8: where readiness writes, and removes, a row the size of a certificate's to learn that changes are taken again
  `
  CREATE TABLE write_probe (id INTEGER PRIMARY KEY, filler BLOB NOT NULL);
  `,
  // 9: token list reads the tokens that can still admit an agent, in this order, without reading the spent ones;
  // a late token revoke says what spent the token
  `
  CREATE INDEX join_tokens_unspent ON join_tokens (expires_at, hash) WHERE used_at IS NULL;
  ALTER TABLE join_tokens ADD COLUMN spent_by TEXT;
  `,
  // 10: the admin credential a remote operator made a token with, so that the token dies with it (null: the local operator's)
  `
  ALTER TABLE join_tokens ADD COLUMN creator_serial TEXT;
  `,
];
