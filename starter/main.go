// Command zdm starts zero-downtime PostgreSQL migrations as Temporal workflows and lets
// people follow, approve, reject, pause and resume them. Run 'zdm --help'.
package main

import (
	"os"

	"github.com/zdmhq/zdm/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
