package wire

import "github.com/zdmhq/zdm/internal/plan"

// Activity names of the partitioned backfill.
const (
	BackfillPartitions     = "BackfillPartitions"
	BackfillPartitionSlice = "BackfillPartitionSlice"
)

// PartitionsInput asks for the partitions of a backfill: created the first time (split
// into at most Parallelism parts of about as many rows each), read with their
// committed cursors after.
type PartitionsInput struct {
	Target      plan.Target `json:"target"`
	Upper       plan.Cursor `json:"upper"`
	Parallelism int         `json:"parallelism"`
	// RunID is the workflow's first run ID: partitions of another run are replaced.
	RunID string `json:"run_id"`
}

// PartitionsResult is the partitions, in key order, and where their bounds came from
// (histogram, sample, even, none).
type PartitionsResult struct {
	Partitions []plan.Partition `json:"partitions"`
	SplitBy    string           `json:"split_by"`
}

// PartitionSliceInput is one slice of one partition: batches from the partition's
// committed cursor towards its Hi (Slice.Cursor and Slice.Upper are not used).
type PartitionSliceInput struct {
	Slice SliceInput `json:"slice"`
	Part  int        `json:"part"`
	RunID string     `json:"run_id"`
	// Parallelism, with parallelism: auto, is how many partitions the governor let run
	// at once when this slice started (for the worker's metrics); 0 otherwise.
	Parallelism int `json:"parallelism,omitempty"`
}
