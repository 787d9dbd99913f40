package cli

import (
	"fmt"

	"github.com/zdmhq/zdm/workflows"
)

// PartitionLines are the rows of a partitioned backfill in zdm status: the summary,
// then each partition's rows done and whether it is done. None with one cursor.
func PartitionLines(p workflows.Progress) []string {
	sum := workflows.PartitionsSummary(p)
	if sum == "" {
		return nil
	}
	lines := []string{sum}
	for _, part := range p.Partitions {
		state := "running"
		if part.Done {
			state = "done"
		} else if part.Waiting {
			state = "waiting" // parallelism: auto runs fewer at once
		}
		lines = append(lines, fmt.Sprintf("  #%d  %s rows  %s", part.Part, Thousands(part.RowsDone), state))
	}
	return lines
}
