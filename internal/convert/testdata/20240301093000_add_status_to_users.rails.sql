-- Rails: rails db:migrate:up VERSION=20240301093000 --dry-run, as structure.sql shows it
BEGIN;
SET statement_timeout = 0;
SET lock_timeout = 0;
ALTER TABLE "users" ADD "status" character varying DEFAULT 'active' NOT NULL;
ALTER TABLE "users" ADD "last_seen_at" timestamp(6);
CREATE INDEX "index_users_on_status" ON "users" ("status");
ALTER TABLE "orders" ADD CONSTRAINT "fk_rails_f868b47f6a"
  FOREIGN KEY ("user_id") REFERENCES "users" ("id");
ALTER TABLE "orders" ALTER COLUMN "total_cents" TYPE bigint;
DROP INDEX "index_orders_on_code";
COMMIT;
