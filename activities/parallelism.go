package activities

// ParallelismMetrics, when the worker's Metrics has it, hears how many partitions of a
// `parallelism: auto` backfill the latency governor lets run at once, as each of its
// slices starts on this worker.
type ParallelismMetrics interface {
	BackfillParallelism(migration string, n int)
}

// reportParallelism passes on the limit a slice of an auto backfill started with (0:
// not an auto backfill, nothing to say).
func (a *Activities) reportParallelism(migration string, n int) {
	if n <= 0 {
		return
	}
	if pm, ok := a.Metrics.(ParallelismMetrics); ok {
		pm.BackfillParallelism(migration, n)
	}
}
