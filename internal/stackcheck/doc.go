// Package stackcheck holds tests only. They run the PostgreSQL part of scripts/stack.sh
// (`stack.sh pg-ensure`) against the real local cluster and hold it to its rule: it
// creates the roles and databases that DATABASE_URL and UNLEASH_DATABASE_URL name when
// they do not exist, never changes a role that does (a superuser with a wrong password in
// the URL stays a superuser with its own password), and says which URL to correct, without
// its password, when it cannot log in.
package stackcheck
