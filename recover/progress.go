package recover

import "firebreak/internal/progress"

// meter counts what a restore wrote against the totals its snapshot lists
// and tells report each time it grows. Its calls come from the goroutine
// that reads the chunks, one at a time.
type meter struct {
	n      progress.Count
	report func(progress.Count)
}

// newMeter counts the restore of vols: their files and the bytes the
// manifest lists for them, known before a chunk is read. nil when no one
// is told.
func newMeter(vols []*Volume, report func(progress.Count)) *meter {
	if report == nil {
		return nil
	}
	m := &meter{report: report}
	for _, v := range vols {
		for _, e := range v.Files {
			if e.Type == "file" {
				m.n.FilesTotal++
				m.n.BytesTotal += e.Size
			}
		}
	}
	return m
}

// add counts files finished and bytes queued for writing (read from the
// store and checked against their chunk's digest).
func (m *meter) add(files int, bytes int64) {
	if m == nil {
		return
	}
	m.n.Files += files
	m.n.Bytes += bytes
	m.report(m.n)
}
