package progress

import (
	"fmt"
	"time"
)

// Count is how far an act has got. A total of 0 is not known: the act
// reports what it did, without a bar. Done may pass its total when what is
// read grew after it was counted; Fraction clamps.
type Count struct {
	Files      int   `json:"files,omitempty"`
	Bytes      int64 `json:"bytes,omitempty"`
	FilesTotal int   `json:"files_total,omitempty"`
	BytesTotal int64 `json:"bytes_total,omitempty"`
}

// Restarted reports whether c begins a new count after prev: less done
// than before, or another total (the next target, or a volume after the
// writable layer). Its rate is measured from then.
func (c Count) Restarted(prev Count) bool {
	return c.Bytes < prev.Bytes || c.Files < prev.Files || c.BytesTotal != prev.BytesTotal
}

// Known reports whether the count has a total to measure against.
func (c Count) Known() bool { return c.BytesTotal > 0 || c.FilesTotal > 0 }

// Complete reports whether the count has reached its total (false when
// none is known).
func (c Count) Complete() bool {
	switch {
	case c.BytesTotal > 0:
		return c.Bytes >= c.BytesTotal && c.Files >= c.FilesTotal
	case c.FilesTotal > 0:
		return c.Files >= c.FilesTotal
	}
	return false
}

// Fraction is how much is done, from 0 to 1: by bytes when their total is
// known, else by files; 0 when no total is known.
func (c Count) Fraction() float64 {
	var f float64
	switch {
	case c.BytesTotal > 0:
		f = float64(c.Bytes) / float64(c.BytesTotal)
	case c.FilesTotal > 0:
		f = float64(c.Files) / float64(c.FilesTotal)
	}
	return min(max(f, 0), 1)
}

// Rate is bytes a second over elapsed (0 when nothing can be said yet).
func (c Count) Rate(elapsed time.Duration) float64 {
	if elapsed < 100*time.Millisecond || c.Bytes <= 0 {
		return 0
	}
	return float64(c.Bytes) / elapsed.Seconds()
}

// ETA is the time left at the rate so far; false when it cannot be told
// (no byte total, or no rate yet).
func (c Count) ETA(elapsed time.Duration) (time.Duration, bool) {
	r := c.Rate(elapsed)
	if c.BytesTotal <= 0 || r <= 0 {
		return 0, false
	}
	left := max(c.BytesTotal-c.Bytes, 0)
	return time.Duration(float64(left) / r * float64(time.Second)).Round(time.Second), true
}

// Bytes writes n as a short size: 512 B, 1.5 KiB, 20.0 MiB, 3.2 GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[i])
}

// Parts says the count in words, most telling first, so that a front end
// short of room drops from the end: the percent done (when a total is
// known), done of total, the rate, and the time left. Without a total:
// what is done.
func (c Count) Parts(elapsed time.Duration) []string {
	var p []string
	if c.Known() {
		p = append(p, fmt.Sprintf("%d%%", int(c.Fraction()*100)))
	}
	switch {
	case c.BytesTotal > 0:
		p = append(p, Bytes(c.Bytes)+" of "+Bytes(c.BytesTotal))
	case c.FilesTotal > 0:
		p = append(p, fmt.Sprintf("%d of %d files", c.Files, c.FilesTotal))
	default:
		p = append(p, fmt.Sprintf("%s, %d files", Bytes(c.Bytes), c.Files))
	}
	if r := c.Rate(elapsed); r > 0 {
		p = append(p, Bytes(int64(r))+"/s")
	}
	if eta, ok := c.ETA(elapsed); ok && !c.Complete() {
		p = append(p, eta.String()+" left")
	}
	return p
}
