package opstest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/ops/opstest"
	"github.com/zdmhq/zdm/internal/testenv"
)

// TestSnapshotSeesEveryChange proves that the rollback check means something: each
// change below, to the table or to something hanging off it, changes its Snapshot, and
// undoing it gives the same Snapshot back.
func TestSnapshotSeesEveryChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, pool := testenv.DB(t, "zdm_opstest")
	_, err := pool.Exec(ctx, opstest.Accounts(
		"seq serial",
		"payload json",
		"updated_at timestamptz NOT NULL DEFAULT now()",
		"cents bigint GENERATED ALWAYS AS (abalance::bigint * 100) STORED",
	)+`
		ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);
		ALTER TABLE accounts ADD CONSTRAINT accounts_abalance_nonneg CHECK (abalance >= 0);
		CREATE INDEX accounts_bid_idx ON accounts (bid) WHERE bid > 0;
		CREATE TABLE branches (bid int PRIMARY KEY);
		CREATE TABLE tellers (tid int PRIMARY KEY, aid bigint REFERENCES accounts);
		CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
		CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch();
		ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
		CREATE POLICY accounts_nonneg ON accounts USING (abalance >= 0);
		CREATE STATISTICS accounts_bid_abalance ON bid, abalance FROM accounts;
		CREATE VIEW rich AS SELECT aid, abalance FROM accounts WHERE abalance > 90000;
		CREATE PUBLICATION accounts_pub FOR TABLE accounts (aid, abalance) WHERE (abalance > 0) WITH (publish = 'insert');
		GRANT SELECT (aid, abalance) ON accounts TO public;
		COMMENT ON TABLE accounts IS 'the accounts';
		COMMENT ON COLUMN accounts.abalance IS 'in cents';
		CREATE SCHEMA zdm;
		CREATE TABLE zdm.migrations (name text PRIMARY KEY);`)
	require.NoError(t, err)
	before, err := opstest.Snapshot(ctx, pool, "accounts")
	require.NoError(t, err)
	t.Logf("snapshot:\n%s", before)

	type change struct{ name, sql, table string }
	changes := []change{
		{"column added", `ALTER TABLE accounts ADD COLUMN x int`, ""},
		{"column type", `ALTER TABLE accounts ALTER COLUMN bid TYPE bigint`, ""},
		{"column dropped", `ALTER TABLE accounts DROP COLUMN email CASCADE`, ""},
		{"column renamed", `ALTER TABLE accounts RENAME COLUMN name TO full_name`, ""},
		{"NOT NULL", `ALTER TABLE accounts ALTER COLUMN bid DROP NOT NULL`, ""},
		{"default", `ALTER TABLE accounts ALTER COLUMN abalance SET DEFAULT 1`, ""},
		{"default dropped", `ALTER TABLE accounts ALTER COLUMN abalance DROP DEFAULT`, ""},
		{"collation", `ALTER TABLE accounts ALTER COLUMN name TYPE text COLLATE "C"`, ""},
		{"statistics target", `ALTER TABLE accounts ALTER COLUMN bid SET STATISTICS 500`, ""},
		{"storage", `ALTER TABLE accounts ALTER COLUMN name SET STORAGE EXTERNAL`, ""},
		{"compression", `ALTER TABLE accounts ALTER COLUMN name SET COMPRESSION pglz`, ""},
		{"column options", `ALTER TABLE accounts ALTER COLUMN bid SET (n_distinct = 10)`, ""},
		{"column comment", `COMMENT ON COLUMN accounts.abalance IS 'in euros'`, ""},
		{"column privilege", `GRANT UPDATE (name) ON accounts TO public`, ""},
		{"column privilege revoked", `REVOKE SELECT (abalance) ON accounts FROM public`, ""},
		{"table privilege", `GRANT SELECT ON accounts TO public`, ""},
		{"table comment", `COMMENT ON TABLE accounts IS NULL`, ""},
		{"row level security", `ALTER TABLE accounts DISABLE ROW LEVEL SECURITY`, ""},
		{"forced row level security", `ALTER TABLE accounts FORCE ROW LEVEL SECURITY`, ""},
		{"persistence", `ALTER TABLE branches SET UNLOGGED`, "branches"}, // accounts is published and referenced: it cannot be
		{"storage parameter", `ALTER TABLE accounts SET (fillfactor = 70)`, ""},
		{"replica identity", `ALTER TABLE accounts REPLICA IDENTITY FULL`, ""},
		{"check constraint", `ALTER TABLE accounts ADD CONSTRAINT c CHECK (bid >= 0) NOT VALID`, ""},
		{"constraint validated", `ALTER TABLE accounts DROP CONSTRAINT accounts_abalance_nonneg, ADD CONSTRAINT accounts_abalance_nonneg CHECK (abalance >= 0) NOT VALID`, ""},
		{"constraint deferrable", `ALTER TABLE accounts DROP CONSTRAINT accounts_email_key CASCADE, ADD CONSTRAINT accounts_email_key UNIQUE (email) DEFERRABLE`, ""},
		{"constraint comment", `COMMENT ON CONSTRAINT accounts_email_key ON accounts IS 'one per person'`, ""},
		{"foreign key to it", `ALTER TABLE tellers DROP CONSTRAINT tellers_aid_fkey`, ""},
		{"foreign key of it", `ALTER TABLE accounts ADD FOREIGN KEY (bid) REFERENCES branches NOT VALID`, ""},
		{"index", `CREATE INDEX ON accounts (name)`, ""},
		{"index renamed", `ALTER INDEX accounts_bid_idx RENAME TO accounts_bid_idx2`, ""},
		{"index clustered", `CLUSTER accounts USING accounts_pkey`, ""},
		{"index comment", `COMMENT ON INDEX accounts_bid_idx IS 'partial'`, ""},
		{"trigger", `CREATE TRIGGER t2 BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION touch()`, ""},
		{"trigger disabled", `ALTER TABLE accounts DISABLE TRIGGER accounts_touch`, ""},
		{"rule", `CREATE RULE r AS ON DELETE TO accounts DO INSTEAD NOTHING`, ""},
		{"policy", `CREATE POLICY p2 ON accounts FOR SELECT TO public USING (bid > 0)`, ""},
		{"policy changed", `ALTER POLICY accounts_nonneg ON accounts USING (abalance > 0)`, ""},
		{"extended statistics", `CREATE STATISTICS s2 ON bid, name FROM accounts`, ""},
		{"statistics target of extended statistics", `ALTER STATISTICS accounts_bid_abalance SET STATISTICS 10`, ""},
		{"sequence owned", `ALTER SEQUENCE accounts_seq_seq OWNED BY NONE`, ""},
		{"sequence changed", `ALTER SEQUENCE accounts_seq_seq INCREMENT BY 2`, ""},
		{"publication", `ALTER PUBLICATION accounts_pub SET TABLE accounts (aid)`, ""},
		{"publication dropped", `DROP PUBLICATION accounts_pub`, ""},
		{"view", `CREATE VIEW v2 AS SELECT aid FROM accounts`, ""},
		{"view changed", `CREATE OR REPLACE VIEW rich AS SELECT aid, abalance FROM accounts WHERE abalance > 80000`, ""},
		{"inheritance", `CREATE TABLE child () INHERITS (accounts)`, ""},
		{"zdm function", `CREATE FUNCTION zdm.sync_x() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`, ""},
		{"zdm table", `CREATE TABLE zdm.leftover (a int)`, ""},
		{"dropped and added back", `ALTER TABLE accounts DROP COLUMN payload, ADD COLUMN payload json`, ""},
	}
	for _, c := range changes {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			table, was := "accounts", before
			if c.table != "" {
				table = c.table
				var err error
				if was, err = opstest.Snapshot(ctx, tx, table); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, c.sql); err != nil {
				return err
			}
			after, err := opstest.Snapshot(ctx, tx, table)
			if err != nil {
				return err
			}
			assert.NotEqual(t, was, after, "Snapshot does not see: %s", c.name)
			return errUndo
		})
		if !errors.Is(err, errUndo) {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	// What leaves the table as it was leaves the snapshot as it was: a column added and
	// dropped again, zdm's own bookkeeping, rows written.
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `ALTER TABLE accounts ADD COLUMN _zdm_x bigint;
			ALTER TABLE accounts DROP COLUMN _zdm_x;
			INSERT INTO zdm.migrations VALUES ('m');
			CREATE INDEX ON zdm.migrations (name);
			INSERT INTO accounts (aid, bid, name) VALUES (9000001, 1, 'x');
			UPDATE accounts SET abalance = abalance + 1 WHERE aid < 100;`)
		return err
	}))
	after, err := opstest.Snapshot(ctx, pool, "accounts")
	require.NoError(t, err)
	assert.Equal(t, before, after)
}

var errUndo = errors.New("undo")
