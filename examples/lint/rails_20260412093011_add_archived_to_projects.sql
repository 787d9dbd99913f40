-- Shaped like the SQL Rails runs for a migration and records in db/structure.sql:
-- pg_dump's session header (which turns lock_timeout off), then the change.
--   class AddArchivedToProjects < ActiveRecord::Migration[7.1]
--     def change
--       add_column :projects, :archived_at, :datetime
--       add_column :projects, :uuid, :uuid, default: -> { "gen_random_uuid()" }
--       add_index :projects, :archived_at
--       add_reference :tasks, :project, foreign_key: true
--     end
--   end
SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

ALTER TABLE "projects" ADD "archived_at" timestamp(6);
ALTER TABLE "projects" ADD "uuid" uuid DEFAULT gen_random_uuid();
CREATE INDEX "index_projects_on_archived_at" ON "projects" ("archived_at");
ALTER TABLE "tasks" ADD "project_id" bigint;
CREATE INDEX "index_tasks_on_project_id" ON "tasks" ("project_id");
ALTER TABLE "tasks" ADD CONSTRAINT "fk_rails_02e851e3b7"
FOREIGN KEY ("project_id")
  REFERENCES "projects" ("id");
INSERT INTO "schema_migrations" (version) VALUES ('20260412093011');
