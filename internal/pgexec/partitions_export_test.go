package pgexec

// SetSampleSize lowers the sample's size for a test on a small table, so that it reads
// part of the pages; the returned function puts it back.
func SetSampleSize(rows, pages int) (restore func()) {
	r, p := sampleRows, samplePages
	sampleRows, samplePages = rows, float64(pages)
	return func() { sampleRows, samplePages = r, p }
}
