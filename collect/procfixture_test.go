package collect

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"firebreak/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixture text as the kernel prints it (columns padded as in /proc).
const (
	fixtureRoute = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n" +
		"eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                                \n" +
		"eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                                \n" +
		"short\t00000000\n" +
		"bad\tZZ000000\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	fixtureRoute6 = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n" +
		"fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n" +
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n" +
		"00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n" +
		"00000000000000000000000000000001 zz 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
	fixtureTCP = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n" +
		"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0                     \n" +
		"   1: 020011AC:1F90 010011AC:C350 01 00000000:00000000 02:000AF0A3 00000000  1000        0 12346 2 0000000000000000 20 4 30 10 -1                    \n" +
		"   2: ZZ0011AC:1F90 010011AC 0a 00000000:00000000 02:000AF0A3 00000000  abc        0 notanum 2 0000000000000000 20 4 30 10 -1\n" +
		"   3: too few fields\n"
	fixtureTCP6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22001 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0000000000000000FFFF0000020011AC:0016 0000000000000000FFFF0000010011AC:D431 01 00000000:00000000 02:00000000 00000000     0        0 22002 4 0000000000000000 20 4 29 10 -1\n" +
		"   2: 000000FD000000000000000002000000:0050 000000FD000000000000000001000000:E2D4 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n"
	fixtureUDP = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops             \n" +
		"  300: 0B00007F:8B2A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 33001 2 0000000000000000 0         \n"
	fixtureUDP6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	fixtureRaw  = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
		"    1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 44001 2 0000000000000000 0\n"
	fixtureUnix = "Num       RefCount Protocol Flags    Type St Inode Path\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 55001 /run/app.sock\n" +
		"0000000000000000: 00000002 00000000 00000000 0001 03 55002\n" +
		"0000000000000000: 00000003 00000000 00000000 0001 03 55003 @/tmp/.X11-unix/X0\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 55004 /tmp/with  two spaces\n" +
		"0000000000000000: 00000002 00000000\n"
)

type fixtureProc struct {
	pid     int
	stat    string
	status  string
	cmdline string
	cgroup  string
	ns      map[string]string
	exe     string // link text; "" for none
	fds     map[string]string
}

func statusText(pid, ppid int, uid string, nspid string) string {
	return fmt.Sprintf("Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n"+
		"Uid:\t%s\nGid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t0 1 2 3 4 6 10 11 20 26 27 \nNStgid:\t%s\nNSpid:\t%s\n"+
		"VmPeak:\t    1700 kB\nThreads:\t1\nSigQ:\t0/62811\n"+
		"CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n"+
		"NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\nSpeculation_Store_Bypass:\tthread vulnerable\n"+
		"Cpus_allowed_list:\t0-7\nvoluntary_ctxt_switches:\t35\nnonvoluntary_ctxt_switches:\t2\n", pid, pid, ppid, uid, nspid, nspid)
}

func statText(pid int, comm, state string, ppid int, start uint64) string {
	return fmt.Sprintf("%d (%s) %s %d %d %d 0 -1 4194560 393 0 0 0 0 0 0 0 20 0 1 0 %d 4427776 250 18446744073709551615 1 1 0 0 0 0 0 0 65536 0 0 0 17 3 0 0 0 0 0", pid, comm, state, ppid, pid, pid, start)
}

// procFixture builds a /proc tree: pid 4194100 is a container's init, 4194101 its
// child, 4194102 a child that entered another network namespace, 4194103 a process
// in the container's PID namespace but another cgroup, 4194050 a host process.
func procFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(rel, target string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\nintr 1462898\nctxt 9839592\nbtime 1767225600\nprocesses 30310\n")
	write("bin/sh", "#!fixture binary\n")
	write("data/file", "inside\n")
	write("other/file", "outside\n")
	ctrNS := map[string]string{"cgroup": "cgroup:[4026532301]", "ipc": "ipc:[4026532299]", "mnt": "mnt:[4026532297]", "net": "net:[4026532302]", "pid": "pid:[4026532300]", "uts": "uts:[4026532298]", "user": "user:[4026531837]", "time": "time:[4026531834]"}
	hostNS := map[string]string{"cgroup": "cgroup:[4026531835]", "ipc": "ipc:[4026531839]", "mnt": "mnt:[4026531841]", "net": "net:[4026531840]", "pid": "pid:[4026531836]", "uts": "uts:[4026531838]", "user": "user:[4026531837]", "time": "time:[4026531834]"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range m {
			out[a] = b
		}
		out[k] = v
		return out
	}
	ctrCgroup := "0::/system.slice/docker-abc.scope\n"
	procs := []fixtureProc{
		{pid: 4194050, stat: statText(4194050, "sshd", "S", 1, 900), status: statusText(4194050, 1, "0\t0\t0\t0", "4194050"), cmdline: "/usr/sbin/sshd\x00-D\x00", cgroup: "0::/system.slice/ssh.service\n", ns: hostNS, exe: "/usr/sbin/sshd"},
		{pid: 4194100, stat: statText(4194100, "sh", "S", 4194090, 123456), status: statusText(4194100, 4194090, "0\t0\t0\t0", "4194100\t1"), cmdline: "sh\x00-c\x00sleep 600\x00", cgroup: ctrCgroup, ns: ctrNS, exe: filepath.Join(root, "bin/sh"),
			fds: map[string]string{"0": "/dev/null", "3": "socket:[12345]", "4": filepath.Join(root, "data/file"), "5": filepath.Join(root, "other/file"), "7": "socket:[55001]"}},
		{pid: 4194101, stat: statText(4194101, "evil) (x", "R", 4194100, 123500), status: statusText(4194101, 4194100, "1000\t1000\t1000\t1000", "4194101\t7"), cmdline: "", cgroup: ctrCgroup, ns: ctrNS, exe: "/memfd:x (deleted)",
			fds: map[string]string{"7": "socket:[55001]", "8": "pipe:[999]"}},
		{pid: 4194102, stat: statText(4194102, "nc", "S", 4194101, 124000), status: statusText(4194102, 4194101, "0\t0\t0\t0", "4194102\t9"), cmdline: "nc\x00-l\x00", cgroup: ctrCgroup, ns: with(ctrNS, "net", "net:[4026531840]"), exe: "/usr/bin/nc (deleted)"},
		{pid: 4194103, stat: statText(4194103, "w\xffx", "S", 4194050, 125000), status: statusText(4194103, 4194050, "0\t0\t0\t0", "4194103\t12"), cmdline: "w\xffx\x00ok\x00", cgroup: "0::/other.slice\n", ns: ctrNS},
		{pid: 4194104, stat: "4194104 (broken", status: "", cgroup: ctrCgroup, ns: ctrNS},
	}
	for _, p := range procs {
		d := fmt.Sprint(p.pid)
		write(d+"/stat", p.stat)
		if p.status != "" {
			write(d+"/status", p.status)
		}
		write(d+"/cmdline", p.cmdline)
		write(d+"/cgroup", p.cgroup)
		for k, v := range p.ns {
			link(d+"/ns/"+k, v)
		}
		if p.exe != "" {
			link(d+"/exe", p.exe)
		}
		link(d+"/cwd", "/")
		link(d+"/root", "/")
		if err := os.MkdirAll(filepath.Join(root, d, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		for fd, target := range p.fds {
			link(d+"/fd/"+fd, target)
		}
	}
	for name, text := range map[string]string{"route": fixtureRoute, "ipv6_route": fixtureRoute6, "tcp": fixtureTCP, "tcp6": fixtureTCP6, "udp": fixtureUDP, "udp6": fixtureUDP6, "raw": fixtureRaw, "unix": fixtureUnix} {
		write("4194100/net/"+name, text)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "data/file"), &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)))
	write("4194100/mountinfo", "1200 1100 0:120 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"+
		"1201 1200 0:123 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"+
		"1210 1200 "+dev+" /srv "+filepath.Join(root, "data")+" rw,relatime - ext4 /dev/sda1 rw\n"+
		"1211 1200 x:y / /bad rw - ext4 /dev/sdb rw\n"+
		"short line\n")
	return root
}

// checkGolden compares v, as JSON with the fixture root replaced by $ROOT,
// with testdata/name.
func checkGolden(t *testing.T, root, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(b), root, "$ROOT") + "\n"
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestReadNetworkFixture(t *testing.T) {
	root := procFixture(t)
	st := readNetwork(root, 4194100, map[uint64][]int{12345: {4194100}, 55001: {4194100, 4194101}})
	checkGolden(t, root, "network.golden.json", st)
}

func TestProcessTreeFixture(t *testing.T) {
	root := procFixture(t)
	procs, err := newProcReader(root).processTree(4194100)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, root, "processes.golden.json", procs)
	if _, err := newProcReader(root).processTree(4194104); err == nil || !strings.Contains(err.Error(), "pid 4194104: malformed stat") {
		t.Errorf("processTree(4194104) = %v, want the malformed stat named", err)
	}
}

func TestHostFDsFixture(t *testing.T) {
	root := procFixture(t)
	procs, err := newProcReader(root).processTree(4194100)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, root, "hostfds.golden.json", hostFDs(root, runtime.Details{Pid: 4194100}, procs))
}
