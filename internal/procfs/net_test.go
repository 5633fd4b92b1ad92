package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// Socket tables as the kernel prints them (columns padded as in /proc).
const (
	tcpTable = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n" +
		"   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0                     \n" +
		"   1: 020011AC:1F90 010011AC:C350 01 00000000:00000000 02:000AF0A3 00000000  1000        0 12346 2 0000000000000000 20 4 30 10 -1                    \n" +
		"   2: ZZ0011AC:1F90 010011AC 0A 00000000:00000000 02:000AF0A3 00000000  abc        0 notanum 2 0000000000000000 20 4 30 10 -1\n" +
		"   3: too few fields\n"
	tcp6Table = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22001 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0000000000000000FFFF0000020011AC:0016 0000000000000000FFFF0000010011AC:D431 01 00000000:00000000 02:00000000 00000000     0        0 22002 4 0000000000000000 20 4 29 10 -1\n" +
		"   2: 000000FD000000000000000002000000:0050 000000FD000000000000000001000000:E2D4 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n" +
		"   3: B80D0120000000000000000001000000:01BB 00000000000000000000000001000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 22004 1 0000000000000000 100 0 0 10 0\n"
	udpTable = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops             \n" +
		"  300: 0B00007F:8B2A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 33001 2 0000000000000000 0         \n"
	unixTable = "Num       RefCount Protocol Flags    Type St Inode Path\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 55001 /run/app.sock\n" +
		"0000000000000000: 00000002 00000000 00000000 0001 03 55002\n" +
		"0000000000000000: 00000003 00000000 00000000 0001 03 55003 @/tmp/.X11-unix/X0\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 55004 /tmp/with  two spaces\n" +
		"0000000000000000: 00000002 00000000\n"
	routeTable = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n" +
		"eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0                                                                                \n" +
		"eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                                \n" +
		"short\t00000000\n" +
		"bad\tZZ000000\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	route6Table = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n" +
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n" +
		"00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n" +
		"00000000000000000000000000000001 zz 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n" +
		"00000000000000000000000000000001 ff 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n" +
		"short 40\n"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseSockets(t *testing.T) {
	tests := []struct {
		name  string
		proto Proto
		text  string
		want  []Socket
	}{
		{"IPv4", TCP, tcpTable, []Socket{
			{Proto: TCP, Local: ap("0.0.0.0:8080"), Remote: ap("0.0.0.0:0"), State: "0A", Inode: 12345},
			{Proto: TCP, Local: ap("172.17.0.2:8080"), Remote: ap("172.17.0.1:50000"), State: "01", UID: 1000, Inode: 12346},
			{Proto: TCP, State: "0A"}, // nothing parses but the state: kept, zero
		}},
		{"IPv6", TCP6, tcp6Table, []Socket{
			{Proto: TCP6, Local: ap("[::]:22"), Remote: ap("[::]:0"), State: "0A", Inode: 22001},
			{Proto: TCP6, Local: ap("172.17.0.2:22"), Remote: ap("172.17.0.1:54321"), State: "01", Inode: 22002}, // v4-mapped: unmapped
			{Proto: TCP6, Local: ap("[fd00::2]:80"), Remote: ap("[fd00::1]:58068"), State: "06"},
			{Proto: TCP6, Local: ap("[2001:db8::1]:443"), Remote: ap("[::1]:0"), State: "0A", UID: 101, Inode: 22004},
		}},
		{"UDP", UDP, udpTable, []Socket{
			{Proto: UDP, Local: ap("127.0.0.11:35626"), Remote: ap("0.0.0.0:0"), State: "07", Inode: 33001},
		}},
		{"Unix", Unix, unixTable, []Socket{
			{Proto: Unix, State: "01", Inode: 55001, Path: "/run/app.sock"},
			{Proto: Unix, State: "03", Inode: 55002},
			{Proto: Unix, State: "03", Inode: 55003, Path: "@/tmp/.X11-unix/X0"},
			{Proto: Unix, State: "01", Inode: 55004, Path: "/tmp/with two spaces"},
		}},
		{"HeaderOnly", UDP6, "  sl  local_address remote_address st\n", nil},
		{"Empty", Raw, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSockets(strings.NewReader(tt.text), tt.proto)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSockets =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseSocketsUnknownProto(t *testing.T) {
	if _, err := ParseSockets(strings.NewReader(tcpTable), "sctp"); err == nil {
		t.Error("an unknown table was parsed")
	}
}

func TestParseSocketsReadError(t *testing.T) {
	// The first read returns the whole table, the second fails.
	got, err := ParseSockets(iotest.TimeoutReader(strings.NewReader(tcpTable)), TCP)
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("err = %v, want the read error", err)
	}
	if len(got) != 3 {
		t.Errorf("got %d sockets with the error, want the 3 read before it", len(got))
	}
}

func TestSocketTCPState(t *testing.T) {
	for st, want := range map[string]string{"01": "ESTABLISHED", "0A": "LISTEN", "06": "TIME_WAIT", "0C": "", "": ""} {
		if got := (Socket{State: st}).TCPState(); got != want {
			t.Errorf("TCPState(%q) = %q, want %q", st, got, want)
		}
	}
}

func TestParseAddrPort(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:0016": "127.0.0.1:22",
		"B80D0120000000000000000001000000:01BB": "[2001:db8::1]:443",
		"zz:1":                                  "invalid AddrPort",
		"0100007F":                              "invalid AddrPort",
		"0100007F:10000":                        "invalid AddrPort",
		"01007F:0050":                           "invalid AddrPort",
	} {
		if got := parseAddrPort(in).String(); got != want {
			t.Errorf("parseAddrPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRoutes(t *testing.T) {
	got, err := ParseRoutes(strings.NewReader(routeTable))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Interface: "eth0", Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("172.17.0.1")},
		{Interface: "eth0", Destination: netip.MustParsePrefix("172.17.0.0/16")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseRoutes =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseIPv6Routes(t *testing.T) {
	got, err := ParseIPv6Routes(strings.NewReader(route6Table))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Interface: "eth0", Destination: netip.MustParsePrefix("fd00::/64")},
		{Interface: "eth0", Destination: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("fe80::1")},
		{Interface: "lo", Destination: netip.MustParsePrefix("::1/128")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseIPv6Routes =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseWords(t *testing.T) {
	for in, want := range map[string]string{
		"0100A8C0":                         "192.168.0.1", // little-endian as /proc prints it
		"000000FD000000000000000002000000": "fd00::2",
		"zz":                               "invalid IP",
		"0100A8":                           "invalid IP",
		"":                                 "invalid IP",
	} {
		a, _ := parseWords(in)
		if got := a.String(); got != want {
			t.Errorf("parseWords(%q) = %s, want %s", in, got, want)
		}
	}
	if _, ok := parseAddr4("000000FD000000000000000002000000"); ok {
		t.Error("parseAddr4 took an IPv6 address")
	}
}

func TestSocketInode(t *testing.T) {
	for in, want := range map[string]uint64{"socket:[12345]": 12345, "pipe:[12345]": 0, "socket:[x]": 0, "/etc/passwd": 0} {
		got, ok := SocketInode(in)
		if got != want || ok != (want != 0) {
			t.Errorf("SocketInode(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
}

// TestRootSocketsSeesOwnListener checks the decoding against the kernel:
// a listener this test opens is in its own namespace's table.
func TestRootSocketsSeesOwnListener(t *testing.T) {
	for _, c := range []struct {
		network, addr string
		proto         Proto
	}{{"tcp4", "127.0.0.1:0", TCP}, {"tcp6", "[::1]:0", TCP6}} {
		l, err := net.Listen(c.network, c.addr)
		if err != nil {
			if c.proto == TCP6 {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		defer l.Close()
		want := l.Addr().(*net.TCPAddr).AddrPort()
		socks, err := Proc.Sockets(os.Getpid(), c.proto)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range socks {
			if s.Local == want && s.TCPState() == "LISTEN" && s.Inode != 0 && s.UID == os.Getuid() {
				found = true
			}
		}
		if !found {
			t.Errorf("%s listener %s not in %s table", c.network, want, c.proto)
		}
	}
}

func TestRootRoutesReadsOwnNamespace(t *testing.T) {
	if _, err := Proc.Routes(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := Root(t.TempDir()).Routes(1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Routes of a missing process = %v, want not-exist", err)
	}
}

func FuzzParseSockets(f *testing.F) {
	for _, s := range []string{tcpTable, tcp6Table, udpTable, unixTable, "", "\n", "h\n0: :1 :2 3 4 5 6 7 8 9\n", "h\n0: 00000000000000000000000000000000:FFFF 1:1 1 1 1 1 -1 1 99999999999999999999999\n"} {
		f.Add([]byte(s))
	}
	protos := []Proto{TCP, TCP6, UDP, UDP6, Raw, Raw6, Unix}
	f.Fuzz(func(t *testing.T, b []byte) {
		rows := bytes.Count(b, []byte("\n")) + 1
		for _, p := range protos {
			got, err := ParseSockets(bytes.NewReader(b), p)
			if err != nil && !errors.Is(err, bufio.ErrTooLong) {
				t.Fatalf("%s: %v", p, err)
			}
			if len(got) > rows {
				t.Fatalf("%s: %d sockets from %d lines", p, len(got), rows)
			}
			for _, s := range got {
				if s.Proto != p {
					t.Fatalf("socket of %s from the %s table", s.Proto, p)
				}
				if (s.Local.IsValid() || s.Remote.IsValid()) && p == Unix {
					t.Fatal("a unix socket with an address")
				}
				if s.Local.IsValid() && s.Local.Addr().Is4In6() {
					t.Fatalf("mapped address left: %s", s.Local)
				}
			}
		}
	})
}

func TestParseNetExtras(t *testing.T) {
	v6 := "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n" +
		"fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n"
	routes, err := ParseIPv6Routes(strings.NewReader(v6))
	if err != nil || len(routes) != 2 || !routes[0].Reject || routes[1].Reject {
		t.Errorf("ParseIPv6Routes = %+v, %v; want the first a reject route", routes, err)
	}
	pk := "sk       RefCnt Type Proto  Iface R Rmem   User   Inode\n" +
		"ffff8f1e4b5d6800 3      3    0300   0     1 0      0      123456\n"
	ps, err := ParsePackets(strings.NewReader(pk))
	if err != nil || len(ps) != 1 || ps[0].Protocol != 0x0003 || ps[0].Type != 3 || !ps[0].Running || ps[0].Inode != 123456 {
		t.Errorf("ParsePackets = %+v, %v", ps, err)
	}
	dev := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
		"  eth0:    1000      10    1    2    0     0          0         0     2000      20    3    4    0     0       0          0\n"
	c, err := ParseNetDev(strings.NewReader(dev))
	if err != nil || c["eth0"] != (Counters{RxBytes: 1000, RxPackets: 10, RxErrors: 1, RxDropped: 2, TxBytes: 2000, TxPackets: 20, TxErrors: 3, TxDropped: 4}) {
		t.Errorf("ParseNetDev = %+v, %v", c, err)
	}
}
