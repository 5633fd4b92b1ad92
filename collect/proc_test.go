package collect

import (
	"testing"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as a hostile process can
	// choose it.
	line := []byte("4242 (evil) (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615")
	comm, state, ppid, start, err := parseStat(line)
	if err != nil || comm != "evil) (x) y" || state != "S" || ppid != 17 || start != 123456 {
		t.Errorf("parseStat = %q %q %d %d %v", comm, state, ppid, start, err)
	}
	for _, bad := range []string{"", "1 (x", "1 x) S", "1 (x) S 1"} {
		if _, _, _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestParseSockAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:0016": "127.0.0.1:22",
		"zz:1":                                  "",
		"0100007F":                              "",
	} {
		if got := parseSockAddr(in); got != want {
			t.Errorf("parseSockAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Add([]byte("2 ((()) R 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		comm, _, _, _, err := parseStat(b)
		if err == nil && len(comm) > len(b) {
			t.Fatal("command longer than the line")
		}
	})
}

func FuzzParseSockAddr(f *testing.F) {
	f.Add("0100007F:1F90")
	f.Add("00000000000000000000000001000000:0050")
	f.Fuzz(func(t *testing.T, s string) {
		_ = parseSockAddr(s) // must not panic
	})
}
