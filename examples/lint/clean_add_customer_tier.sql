-- A migration written the careful way, safe to run again: nothing here should be reported.
SET lock_timeout = '2s';

-- A constant default and a stable one (now() is computed once): no rewrite.
ALTER TABLE customers ADD COLUMN IF NOT EXISTS tier text DEFAULT 'free';
ALTER TABLE customers ADD COLUMN IF NOT EXISTS tier_since timestamptz DEFAULT now();

-- NOT NULL without a long lock: a check NOT VALID, validated, then SET NOT NULL.
ALTER TABLE customers ADD CONSTRAINT customers_tier_not_null CHECK (tier IS NOT NULL) NOT VALID;
ALTER TABLE customers VALIDATE CONSTRAINT customers_tier_not_null;
ALTER TABLE customers ALTER COLUMN tier SET NOT NULL;
ALTER TABLE customers DROP CONSTRAINT customers_tier_not_null;

-- Outside any transaction, as CONCURRENTLY must be.
CREATE INDEX CONCURRENTLY IF NOT EXISTS customers_tier_idx ON customers (tier);
ALTER TYPE customer_kind ADD VALUE IF NOT EXISTS 'partner';

-- A backfill in bounded batches (the runner repeats it until 0 rows).
UPDATE customers SET tier = 'pro'
 WHERE id IN (SELECT id FROM customers WHERE tier = 'free' AND balance > 10000 ORDER BY id LIMIT 5000);

-- A table created here is empty: its index and constraints lock nothing in use.
CREATE TABLE IF NOT EXISTS customer_notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS customer_notes_customer_id_idx ON customer_notes (customer_id);
ALTER TABLE customer_notes ADD CONSTRAINT customer_notes_body_len CHECK (char_length(body) <= 10000);
