package ops_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"

	"github.com/zdmhq/zdm/internal/ops/opstest"
)

const paymentsColumns = `columns: [{name: id, type: bigint, identity: true, primary_key: true}, {name: customer_id, type: bigint, nullable: false},
      {name: amount, type: "numeric(12,2)", default: "0", check: "amount >= 0"}, {name: note, type: text, unique: true}]`

// paymentWrites is new code: it writes accounts as before, and inserts payments into
// table, leaving id and amount to the table.
func paymentWrites(table string) opstest.Writer {
	accounts := indexWrites("new", 2_000_000)
	return func(ctx context.Context, pool *pgxpool.Pool, i int) error {
		if err := accounts(ctx, pool, i); err != nil {
			return err
		}
		var amount string
		err := pool.QueryRow(ctx, fmt.Sprintf(`INSERT INTO %s (customer_id, note) VALUES ($1, $2) RETURNING amount::text`, table), i%100+1, fmt.Sprintf("payment %d", i)).Scan(&amount)
		if err != nil {
			return fmt.Errorf("INSERT INTO %s: %w", table, err)
		}
		if amount != "0.00" {
			return fmt.Errorf("INSERT INTO %s: amount %s, want the default 0.00", table, amount)
		}
		return nil
	}
}

// createPayments is a lifecycle case of a create_table beside accounts, which old code
// writes; new code writes both.
func createPayments(name, setup, table, op string, check func(t *testing.T, pool *pgxpool.Pool)) opstest.Case {
	return opstest.Case{Name: name, Setup: setup,
		Migration: "table: accounts\noperations:\n  - create_table:\n      table: " + table + "\n      " + op + "\n",
		OldWrite:  indexWrites("old", 1_000_000), NewWrite: paymentWrites(table), OldWritesAfterContract: true, Check: check}
}

func refusedPayments(name, setup, op, want string) opstest.Case {
	c := createPayments(name, setup, "payments", op, nil)
	c.WantRefused = want
	return c
}

func TestCreateTableLifecycle(t *testing.T) {
	t.Parallel()
	created := func(table string) func(t *testing.T, pool *pgxpool.Pool) {
		return func(t *testing.T, pool *pgxpool.Pool) {
			assert.Equal(t, "PRIMARY KEY (id) deferrable=false deferred=false validated=true", opstest.Constraint(t, pool, table, "payments_pkey"))
			assert.Equal(t, "CHECK ((amount >= (0)::numeric)) deferrable=false deferred=false validated=true", opstest.Constraint(t, pool, table, "payments_amount_check"))
			assert.Equal(t, "UNIQUE (note) deferrable=false deferred=false validated=true", opstest.Constraint(t, pool, table, "payments_note_key"))
			assert.Equal(t, "23514", opstest.ExecErr(t, pool, fmt.Sprintf(`INSERT INTO %s (customer_id, amount) VALUES (1, -1)`, table)))
			assert.Equal(t, "23502", opstest.ExecErr(t, pool, fmt.Sprintf(`INSERT INTO %s (note) VALUES ('no customer')`, table)))
			assert.Equal(t, "d", opstest.Scalar[string](t, pool, `SELECT attidentity::text FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'id'`, table))
			// The rows new code wrote after the first expand went with the rollback.
			assert.Equal(t, opstest.DefaultWrites+20, opstest.Scalar[int](t, pool, fmt.Sprintf(`SELECT count(*) FROM %s`, table)),
				"new code's rows since the second expand: during the backfill phase and after contract")
		}
	}
	for _, c := range []opstest.Case{
		createPayments("create and use", opstest.Accounts(), "payments", paymentsColumns+"\n      comment: what customers paid", func(t *testing.T, pool *pgxpool.Pool) {
			created("payments")(t, pool)
			assert.Equal(t, "what customers paid", opstest.Scalar[string](t, pool, `SELECT obj_description('payments'::regclass, 'pg_class')`))
		}),
		createPayments("in another schema, with a key over two columns", "CREATE SCHEMA billing;\n"+opstest.Accounts(), "billing.payments",
			`columns: [{name: id, type: bigint, identity: true}, {name: customer_id, type: bigint}, {name: amount, type: "numeric(12,2)", default: "0"}, {name: note, type: text}]
      primary_key: [customer_id, id]`, func(t *testing.T, pool *pgxpool.Pool) {
				assert.Equal(t, "PRIMARY KEY (customer_id, id) deferrable=false deferred=false validated=true", opstest.Constraint(t, pool, "billing.payments", "payments_pkey"))
			}),
		refusedPayments("the table exists", opstest.Accounts()+"CREATE TABLE payments (id int PRIMARY KEY);", paymentsColumns,
			"table public.payments already exists (fix: choose another name, or remove this operation)"),
		refusedPayments("no primary key", opstest.Accounts(), `columns: [{name: id, type: bigint}]`,
			"the table needs a primary key: zdm pages a table by it to migrate it later (fix: mark a column `primary_key: true`"),
		refusedPayments("a bad type", opstest.Accounts(), `columns: [{name: id, type: bigint, primary_key: true}, {name: amount, type: "numerc(12,2)"}]`,
			`columns[1].type: type "numerc" does not exist`),
		refusedPayments("a bad default", opstest.Accounts(), `columns: [{name: id, type: bigint, primary_key: true}, {name: amount, type: "numeric(12,2)", default: "'none'"}]`,
			`columns[1].default: invalid input syntax for type numeric: "none"`),
		refusedPayments("a check over an unknown column", opstest.Accounts(), `columns: [{name: id, type: bigint, primary_key: true}, {name: amount, type: int, check: "amont > 0"}]`,
			`columns[1].check: column "amont" does not exist`),
		func() opstest.Case {
			c := createPayments("a missing schema", opstest.Accounts(), "nowhere.payments", paymentsColumns, nil)
			c.WantRefused = `schema "nowhere" does not exist (fix: create the schema first`
			return c
		}(),
		refusedPayments("identity on text", opstest.Accounts(), `columns: [{name: id, type: text, identity: true, primary_key: true}]`,
			"an identity column must be of an integer type, not text"),
		refusedPayments("what only the statement finds: UNIQUE on json", opstest.Accounts(), `columns: [{name: id, type: bigint, primary_key: true}, {name: doc, type: json, unique: true}]`,
			`data type json has no default operator class for access method "btree"`),
	} {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opstest.Run(t, c)
		})
	}
}
