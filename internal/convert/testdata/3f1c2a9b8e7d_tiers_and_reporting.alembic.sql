-- Alembic: alembic upgrade 2c0e8f1d4a6b:3f1c2a9b8e7d --sql
BEGIN;

-- Running upgrade 2c0e8f1d4a6b -> 3f1c2a9b8e7d

CREATE TYPE user_tier AS ENUM ('free', 'pro');

ALTER TABLE users ADD COLUMN tier user_tier;

UPDATE users SET tier = 'free' WHERE tier IS NULL;

ALTER TABLE users ALTER COLUMN tier SET NOT NULL;

CREATE INDEX CONCURRENTLY ix_users_lower_email ON users (lower(email)) WHERE age IS NOT NULL;

ALTER TABLE users RENAME COLUMN created_at TO signed_up_at;

CREATE OR REPLACE FUNCTION order_total_eur(cents bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$ SELECT cents / 100.0; $$;

CREATE VIEW order_totals AS SELECT user_id, sum(total_cents) AS cents FROM orders GROUP BY user_id;

DROP TABLE audit_old;

UPDATE alembic_version SET version_num='3f1c2a9b8e7d' WHERE alembic_version.version_num = '2c0e8f1d4a6b';

COMMIT;
