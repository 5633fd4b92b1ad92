package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const statusText = "Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t4200\nTracerPid:\t0\n" +
	"Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t10 1000 \nNStgid:\t4242\t1\nNSpid:\t4242\t1\n" +
	"VmPeak:\t    1700 kB\nThreads:\t1\nSigQ:\t0/62811\n" +
	"CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n" +
	"NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\nSpeculation_Store_Bypass:\tthread vulnerable\nCpus_allowed_list:\t0-7\n"

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as a hostile process can
	// choose it.
	line := []byte("4242 (evil) (x) y) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615")
	st, err := ParseStat(line)
	if err != nil || st != (Stat{Comm: "evil) (x) y", State: "S", PPID: 17, StartTime: 123456}) {
		t.Errorf("ParseStat = %+v %v", st, err)
	}
	for _, bad := range []string{"", "1 (x", "1 x) S", "1 (x) S 1"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) accepted", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	st, err := ParseStatus(strings.NewReader(statusText))
	if err != nil {
		t.Fatal(err)
	}
	want := Status{
		UIDs: []int{1000, 1000, 1000, 1000}, GIDs: []int{1000, 1000, 1000, 1000}, NSPIDs: []int{4242, 1},
		Caps:    map[string]string{"CapInh": "0000000000000000", "CapPrm": "0000000000000000", "CapEff": "0000000000000000", "CapBnd": "00000000a80425fb", "CapAmb": "0000000000000000"},
		Seccomp: "2", NoNewPrivs: "1",
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("ParseStatus =\n%+v\nwant\n%+v", st, want)
	}
}

func TestParseStatusEmpty(t *testing.T) {
	st, err := ParseStatus(strings.NewReader("Name:\tkthreadd\n"))
	if err != nil || st.Caps == nil || st.UIDs != nil || st.Seccomp != "" {
		t.Errorf("ParseStatus = %+v %v, want empty fields and a non-nil Caps", st, err)
	}
}

func TestParseMountInfo(t *testing.T) {
	text := "1200 1100 0:120 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n" +
		"1210 1200 8:1 /srv/data /data rw,relatime - ext4 /dev/sda1 rw\n" +
		"1211 1200 259:3 /a\\040b /mnt/a\\040b ro - ext4 /dev/nvme0n1p3 ro\n" +
		"1212 1200 x:y / /bad rw - ext4 /dev/sdb rw\n" +
		"short line\n"
	got, err := ParseMountInfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Major: 0, Minor: 120, Root: "/", Point: "/"},
		{Major: 8, Minor: 1, Root: "/srv/data", Point: "/data"},
		{Major: 259, Minor: 3, Root: `/a\040b`, Point: `/mnt/a\040b`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseMountInfo =\n%+v\nwant\n%+v", got, want)
	}
	if got[1].Dev() != unix.Mkdev(8, 1) {
		t.Errorf("Dev = %d", got[1].Dev())
	}
}

func TestParseBootTime(t *testing.T) {
	got, err := ParseBootTime(strings.NewReader("cpu  10132153 290696 3084719\nintr 1462898\nbtime 1767225600\nprocesses 30310\n"))
	if err != nil || !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("ParseBootTime = %v %v", got, err)
	}
	if _, err := ParseBootTime(strings.NewReader("cpu 1 2 3\nbtime x\n")); err == nil {
		t.Error("a stat without a usable btime was accepted")
	}
}

func TestRootReadsFixture(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu 1 2 3\nbtime 1767225600\n")
	write("7/stat", "7 (sh) S 1 7 7 0 -1 4194560 393 0 0 0 0 0 0 0 20 0 1 0 500 4427776 250")
	write("7/status", statusText)
	write("7/net/route", routeTable)
	write("7/net/tcp", tcpTable)
	write("8/stat", "8 (sh")
	r := Root(dir)
	if st, err := r.Stat(7); err != nil || st.StartTime != 500 {
		t.Errorf("Stat = %+v %v", st, err)
	}
	if _, err := r.Stat(8); err == nil || !strings.Contains(err.Error(), "pid 8: malformed stat") {
		t.Errorf("Stat of a malformed file = %v, want the pid named", err)
	}
	if _, err := r.Stat(9); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat of a missing process = %v, want not-exist", err)
	}
	if st, err := r.Status(7); err != nil || st.Seccomp != "2" {
		t.Errorf("Status = %+v %v", st, err)
	}
	// No ipv6_route: a kernel without IPv6, not an error.
	if routes, err := r.Routes(7); err != nil || len(routes) != 2 {
		t.Errorf("Routes = %+v %v", routes, err)
	}
	if socks, err := r.Sockets(7, TCP); err != nil || len(socks) != 3 {
		t.Errorf("Sockets = %+v %v", socks, err)
	}
	if _, err := r.Sockets(7, UDP); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Sockets of a missing table = %v, want not-exist", err)
	}
	if bt, err := r.BootTime(); err != nil || bt.Unix() != 1767225600 {
		t.Errorf("BootTime = %v %v", bt, err)
	}
}

func TestRootReadsOwnProcess(t *testing.T) {
	st, err := Proc.Stat(os.Getpid())
	if err != nil || st.Comm == "" || st.PPID != os.Getppid() {
		t.Errorf("Stat(self) = %+v %v", st, err)
	}
	status, err := Proc.Status(os.Getpid())
	if err != nil || len(status.UIDs) != 4 || status.UIDs[0] != os.Getuid() {
		t.Errorf("Status(self) = %+v %v", status, err)
	}
	if _, err := Proc.BootTime(); err != nil {
		t.Error(err)
	}
	if mi, err := Proc.MountInfo(os.Getpid()); err != nil || len(mi) == 0 {
		t.Errorf("MountInfo(self) = %d mounts, %v", len(mi), err)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Add([]byte("2 ((()) R 1"))
	f.Add([]byte(") ("))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err == nil && len(st.Comm) > len(b) {
			t.Fatal("command longer than the line")
		}
	})
}
