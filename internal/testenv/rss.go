package testenv

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ResetPeakRSS makes the process's peak resident size (VmHWM) start again
// from its current resident size, so that a benchmark measures one part.
func ResetPeakRSS(tb testing.TB) {
	tb.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Fatalf("resetting the peak RSS: %v", err)
	}
}

// PeakRSSMiB is the process's peak resident size (VmHWM) in MiB.
func PeakRSSMiB(tb testing.TB) float64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				tb.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	tb.Fatal("no VmHWM in /proc/self/status")
	return 0
}
