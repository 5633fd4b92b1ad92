package collect

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want Mapping
		ok   bool
	}{
		{"File", "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon",
			Mapping{0x400000, 0x452000, "r-xp", 0, "08:02", 173521, "/usr/bin/dbus-daemon"}, true},
		{"Anonymous", "7f2c1a000000-7f2c1a021000 rw-p 00000000 00:00 0 ",
			Mapping{0x7f2c1a000000, 0x7f2c1a021000, "rw-p", 0, "00:00", 0, ""}, true},
		{"NoTrailingSpace", "7f2c1a000000-7f2c1a021000 rw-p 00000000 00:00 0",
			Mapping{0x7f2c1a000000, 0x7f2c1a021000, "rw-p", 0, "00:00", 0, ""}, true},
		{"Heap", "07dfc000-07e1e000 rw-p 00000000 00:00 0                                  [heap]",
			Mapping{0x7dfc000, 0x7e1e000, "rw-p", 0, "00:00", 0, "[heap]"}, true},
		{"SpacesAndDeleted", "7f00-8f00 r-xp 0000a000 00:3d 1139492                    /tmp/two  spaces (deleted)",
			Mapping{0x7f00, 0x8f00, "r-xp", 0xa000, "00:3d", 1139492, "/tmp/two  spaces (deleted)"}, true},
		{"Vsyscall", "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
			Mapping{0xffffffffff600000, 0xffffffffff601000, "--xp", 0, "00:00", 0, "[vsyscall]"}, true},
		{"EndBeforeStart", "2000-1000 r--p 00000000 00:00 0", Mapping{}, false},
		{"BadHex", "zz-1000 r--p 00000000 00:00 0", Mapping{}, false},
		{"NoDash", "1000 r--p 00000000 00:00 0", Mapping{}, false},
		{"BadPerms", "1000-2000 r--pp 00000000 00:00 0", Mapping{}, false},
		{"BadDev", "1000-2000 r--p 00000000 0000 0", Mapping{}, false},
		{"Short", "1000-2000 r--p 00000000", Mapping{}, false},
		{"Empty", "", Mapping{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseMapsLine(tc.line)
			if ok != tc.ok || got != tc.want {
				t.Errorf("parseMapsLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestMappingKinds(t *testing.T) {
	m, _ := parseMapsLine("00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/x")
	if !m.Readable() || !m.FileBacked() || m.Size() != 0x52000 {
		t.Errorf("%+v: readable %v, file-backed %v, size %#x", m, m.Readable(), m.FileBacked(), m.Size())
	}
	for _, line := range []string{"1000-2000 ---p 00000000 00:00 0", "1000-2000 rw-p 00000000 00:00 0 [heap]", "1000-2000 r-xp 00000000 00:00 0 [vdso]"} {
		m, _ := parseMapsLine(line)
		if m.FileBacked() {
			t.Errorf("%q read as file-backed", line)
		}
	}
	if m, _ := parseMapsLine("1000-2000 ---p 00000000 00:00 0"); m.Readable() {
		t.Error("a ---p mapping read as readable")
	}
}

func TestAddrJSON(t *testing.T) {
	b, err := json.Marshal(Mapping{Start: 0xffffffffff600000, End: 0xffffffffff601000})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"start":"0xffffffffff600000"`) {
		t.Errorf("address not written as hex: %s", b)
	}
	var m Mapping
	if err := json.Unmarshal(b, &m); err != nil || m.Start != 0xffffffffff600000 {
		t.Errorf("round trip: %+v, %v", m, err)
	}
	if err := json.Unmarshal([]byte(`{"start":"0xnothex"}`), &m); err == nil {
		t.Error("a bad address was accepted")
	}
}

func TestParseSyscall(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     syscallState
		err      string
	}{
		{"InSyscall", "61 0xffffffff 0x7fff4e55e0fc 0x0 0x0 0x0 0x0 0x7fff4e55e0d8 0x460a63\n",
			syscallState{InSyscall: true, NR: 61, Args: [6]uint64{0xffffffff, 0x7fff4e55e0fc}, SP: 0x7fff4e55e0d8, PC: 0x460a63}, ""},
		{"Blocked", "-1 0x7ffd1000 0x401000\n", syscallState{SP: 0x7ffd1000, PC: 0x401000}, ""},
		{"Running", "running\n", syscallState{}, "running"},
		{"Malformed", "61 0x1 zz 0x0 0x0 0x0 0x0 0x0 0x0", syscallState{}, "malformed"},
		{"BadNumber", "x 0x1 0x1 0x0 0x0 0x0 0x0 0x0 0x0", syscallState{}, "malformed"},
		{"BadSP", "-1 0xzz 0x1", syscallState{}, "malformed"},
		{"Empty", "", syscallState{}, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSyscall([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("parseSyscall(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseSyscall(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestRegsFromSyscall(t *testing.T) {
	st := syscallState{InSyscall: true, NR: 61, Args: [6]uint64{1, 2, 3, 4, 5, 6}, SP: 0x7000, PC: 0x401000}
	r := archAMD64.regsFromSyscall(st)
	// user_regs_struct: rdi 14, rsi 13, rdx 12, r10 7, r8 9, r9 8, orig_rax 15, rip 16, rsp 19.
	want := map[int]uint64{14: 1, 13: 2, 12: 3, 7: 4, 9: 5, 8: 6, 15: 61, 16: 0x401000, 19: 0x7000}
	for i, v := range r {
		if v != want[i] {
			t.Errorf("amd64 register %d = %#x, want %#x", i, v, want[i])
		}
	}
	r = archARM64.regsFromSyscall(syscallState{SP: 0x7000, PC: 0x401000})
	if len(r) != 34 || r[31] != 0x7000 || r[32] != 0x401000 || r[8] != 0 {
		t.Errorf("arm64 registers outside a system call: %v", r)
	}
}

func TestParseStatusExtra(t *testing.T) {
	got := parseStatusExtra([]byte("Name:\tsh\nTracerPid:\t77\nVmRSS:\t    1234 kB\nThreads:\t3\nbroken line\n"))
	if got != (statusExtra{Threads: 3, TracerPID: 77, RSSKiB: 1234}) {
		t.Errorf("parseStatusExtra = %+v", got)
	}
}

func TestIDMapInside(t *testing.T) {
	m := parseIDMap([]byte("         0     100000      65536\n     65536       1000          1\nbad line\n"))
	for _, tc := range []struct {
		host, want int
		ok         bool
	}{{100000, 0, true}, {100033, 33, true}, {165535, 65535, true}, {165536, 0, false}, {1000, 65536, true}, {0, 0, false}} {
		got, ok := inside(m, tc.host)
		if got != tc.want || ok != tc.ok {
			t.Errorf("inside(%d) = %d, %v; want %d, %v", tc.host, got, ok, tc.want, tc.ok)
		}
	}
	if got, ok := inside(nil, 42); got != 42 || !ok {
		t.Errorf("no map: inside(42) = %d, %v", got, ok)
	}
}

func TestParseIDNames(t *testing.T) {
	got := parseIDNames([]byte("root:x:0:0:root:/root:/bin/sh\n# comment:x:5\nnobody:x:65534:65534::/:/bin/false\n" +
		"toor:x:0:0::/:/bin/sh\nbad:x:notanumber:0\n+nis::::\nesc\x1b[31m:x:7:7\nshort:x\n"))
	want := map[int]string{0: "root", 65534: "nobody", 7: `esc\x1b[31m`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseIDNames = %v, want %v", got, want)
	}
}

func TestParseFDInfo(t *testing.T) {
	fi, ok := parseFDInfo([]byte("pos:\t11\nflags:\t0102002\nmnt_id:\t152\nino:\t1139492\n"))
	if !ok || fi != (fdInfo{Pos: 11, Flags: 0o102002, MntID: 152}) {
		t.Errorf("parseFDInfo = %+v, %v", fi, ok)
	}
	if _, ok := parseFDInfo([]byte("pos:\t0\n")); ok {
		t.Error("fdinfo without flags accepted")
	}
}

func TestOpenFlagNames(t *testing.T) {
	for flags, want := range map[uint64]string{
		0:          "O_RDONLY",
		0o2:        "O_RDWR",
		0o102002:   "O_RDWR O_APPEND O_LARGEFILE",
		0o2000001:  "O_WRONLY O_CLOEXEC",
		0o4010000:  "O_RDONLY O_SYNC",
		0o40000000: "O_RDONLY 040000000",
	} {
		if got := strings.Join(openFlagNames(flags), " "); got != want {
			t.Errorf("openFlagNames(%#o) = %q, want %q", flags, got, want)
		}
	}
}

func TestEscapeBytes(t *testing.T) {
	for in, want := range map[string]string{
		"PATH=/usr/bin":        "PATH=/usr/bin",
		"A=é ü":                "A=é ü",
		"NL=a\nb":              `NL=a\x0ab`,
		"ESC=\x1b[2J":          `ESC=\x1b[2J`,
		"BAD=\xff\xfe":         `BAD=\xff\xfe`,
		`BS=a\x41`:             `BS=a\\x41`,
		"ZW=\u200b":            `ZW=\xe2\x80\x8b`,
		"":                     "",
		"TAB=\t":               `TAB=\x09`,
		"REPL=\uFFFD":          `REPL=\xef\xbf\xbd`,
		"MIX=\\\xff" + "\x00z": `MIX=\\\xff\x00z`,
	} {
		got := escapeBytes([]byte(in))
		if got != want {
			t.Errorf("escapeBytes(%q) = %q, want %q", in, got, want)
		}
		if back := unescape(t, got); back != in {
			t.Errorf("escapeBytes(%q) does not read back: %q", in, back)
		}
	}
}

// unescape reverses escapeBytes, to prove it loses nothing.
func unescape(t *testing.T, s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if s[i+1] == '\\' {
			out = append(out, '\\')
			i++
			continue
		}
		n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
		if err != nil {
			t.Fatalf("bad escape in %q", s)
		}
		out = append(out, byte(n))
		i += 3
	}
	return string(out)
}

func FuzzParseMaps(f *testing.F) {
	f.Add([]byte("00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n7f00-8f00 rw-p 00000000 00:00 0 [heap]\n"))
	f.Add([]byte("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		maps, err := parseMaps(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for _, m := range maps {
			if m.End < m.Start || len(m.Perms) != 4 {
				t.Fatalf("accepted a mapping that cannot be: %+v", m)
			}
		}
	})
}

func FuzzParseSyscall(f *testing.F) {
	f.Add([]byte("61 0xffffffff 0x7fff4e55e0fc 0x0 0x0 0x0 0x0 0x7fff4e55e0d8 0x460a63\n"))
	f.Add([]byte("-1 0x7ffd1000 0x401000"))
	f.Add([]byte("running"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseSyscall(b)
		if err != nil && st != (syscallState{}) {
			t.Fatalf("an error with a state: %+v", st)
		}
	})
}

func FuzzEscapeBytes(f *testing.F) {
	f.Add([]byte("A=\xff\\\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if back := unescape(t, escapeBytes(b)); back != string(b) {
			t.Fatalf("escapeBytes(%q) reads back as %q", b, back)
		}
	})
}
