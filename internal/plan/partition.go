package plan

// Partition is one part of a partitioned backfill: the keys in (Lo, Hi], walked by its
// own cursor, committed in zdm.backfill_partitions with each of its batches. Lo nil is
// from the first row.
type Partition struct {
	Part     int    `json:"part"`
	Lo       Cursor `json:"lo,omitempty"`
	Hi       Cursor `json:"hi"`
	Cursor   Cursor `json:"cursor,omitempty"`
	RowsDone int64  `json:"rows_done"`
	Batches  int64  `json:"batches"`
	Done     bool   `json:"done,omitempty"`
}
