// Package composecheck holds tests only. They hold docker-compose.yml and the Dockerfile
// to the programs they run: each zdm service sets exactly the environment variables its
// program reads (found in the program's source, not in a list kept by hand), every
// host:port in those variables names a service that serves that port and is waited for,
// passwords and tokens agree between the services that share them, and the file passes
// `docker compose config`.
package composecheck
