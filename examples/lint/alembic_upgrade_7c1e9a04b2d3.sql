BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 7c1e9a04b2d3

ALTER TABLE customers ALTER COLUMN balance TYPE BIGINT;

ALTER TABLE customers ADD COLUMN settings JSON;

UPDATE customers SET settings = '{}';

ALTER TABLE customers ALTER COLUMN settings SET NOT NULL;

ALTER TABLE customers RENAME COLUMN fullname TO full_name;

INSERT INTO alembic_version (version_num) VALUES ('7c1e9a04b2d3') RETURNING alembic_version.version_num;

COMMIT;
