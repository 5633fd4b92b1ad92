package procfs

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Proto names a socket table under /proc/PID/net.
type Proto string

const (
	TCP  Proto = "tcp"
	TCP6 Proto = "tcp6"
	UDP  Proto = "udp"
	UDP6 Proto = "udp6"
	Raw  Proto = "raw"
	Raw6 Proto = "raw6"
	Unix Proto = "unix"
)

// Socket is one row of a socket table. A field whose text does not parse
// is left zero; the row is kept.
type Socket struct {
	Proto  Proto
	Local  netip.AddrPort // not for unix; an IPv4-mapped IPv6 address is unmapped
	Remote netip.AddrPort // not for unix
	State  string         // the st column as printed: two hex digits
	UID    int            // not for unix
	Inode  uint64
	Path   string // unix only: the bound path ("@" first when abstract), "" when unbound
}

var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// TCPState names the state of a tcp or tcp6 socket ("LISTEN"), "" when the
// state is not one the kernel prints.
func (s Socket) TCPState() string { return tcpStates[s.State] }

// ParseSockets reads a socket table (/proc/PID/net/tcp, tcp6, udp, udp6,
// raw, raw6 or unix) after its header line. Rows with too few columns are
// skipped. The error is about reading r or an unknown proto; the sockets
// read before a read error are returned with it.
func ParseSockets(r io.Reader, proto Proto) ([]Socket, error) {
	var row func(f []string) (Socket, bool)
	switch proto {
	case TCP, TCP6, UDP, UDP6, Raw, Raw6:
		row = func(f []string) (Socket, bool) {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
			if len(f) < 10 {
				return Socket{}, false
			}
			s := Socket{Proto: proto, Local: parseAddrPort(f[1]), Remote: parseAddrPort(f[2]), State: f[3]}
			s.UID, _ = strconv.Atoi(f[7])
			s.Inode, _ = strconv.ParseUint(f[9], 10, 64)
			return s, true
		}
	case Unix:
		row = func(f []string) (Socket, bool) {
			// Num RefCount Protocol Flags Type St Inode [Path]
			if len(f) < 7 {
				return Socket{}, false
			}
			s := Socket{Proto: proto, State: f[5]}
			s.Inode, _ = strconv.ParseUint(f[6], 10, 64)
			if len(f) > 7 {
				s.Path = strings.Join(f[7:], " ")
			}
			return s, true
		}
	default:
		return nil, fmt.Errorf("unknown socket table %q", proto)
	}
	var out []Socket
	err := eachRow(r, true, func(f []string) {
		if s, ok := row(f); ok {
			out = append(out, s)
		}
	})
	return out, err
}

// Route is one IPv4 or IPv6 route.
type Route struct {
	Interface   string
	Destination netip.Prefix // the address as the kernel prints it, not masked
	Gateway     netip.Addr   // the zero Addr when the route has none (on-link)
	Reject      bool         // an unreachable (reject) route, not a way out
}

// ParseRoutes reads /proc/PID/net/route (IPv4) after its header line. Rows
// with too few columns or an address that does not parse are skipped.
func ParseRoutes(r io.Reader) ([]Route, error) {
	var out []Route
	err := eachRow(r, true, func(f []string) {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
		if len(f) < 8 {
			return
		}
		dst, ok1 := parseAddr4(f[1])
		gw, ok2 := parseAddr4(f[2])
		mask, ok3 := parseAddr4(f[7])
		if !ok1 || !ok2 || !ok3 {
			return
		}
		bits := 0
		for _, b := range mask.AsSlice() {
			for ; b != 0; b <<= 1 {
				bits++
			}
		}
		out = append(out, route(f[0], netip.PrefixFrom(dst, bits), gw))
	})
	return out, err
}

// ParseIPv6Routes reads /proc/PID/net/ipv6_route, which has no header.
// Rows with too few columns or a field that does not parse are skipped.
func ParseIPv6Routes(r io.Reader) ([]Route, error) {
	var out []Route
	err := eachRow(r, false, func(f []string) {
		// dst dst_len src src_len gateway metric refcnt use flags iface
		if len(f) < 10 {
			return
		}
		dst, ok1 := parseAddr6(f[0])
		gw, ok2 := parseAddr6(f[4])
		bits, err := strconv.ParseInt(f[1], 16, 32)
		if !ok1 || !ok2 || err != nil || bits < 0 || bits > 128 {
			return
		}
		r := route(f[9], netip.PrefixFrom(dst, int(bits)), gw)
		if flags, err := strconv.ParseUint(f[8], 16, 32); err == nil && flags&rtfReject != 0 {
			r.Reject = true // the kernel's "unreachable" routes, which it lists on lo
		}
		out = append(out, r)
	})
	return out, err
}

// rtfReject is RTF_REJECT in a route's flags.
const rtfReject = 0x0200

// PacketSocket is one row of /proc/PID/net/packet: a raw link-layer socket
// (a sniffer, or a tool forging frames).
type PacketSocket struct {
	Type      int    // SOCK_RAW 3, SOCK_DGRAM 2
	Protocol  uint16 // the ethertype it binds, host order (0x0003: every protocol)
	Interface int    // the ifindex it binds, 0 for all
	Running   bool
	UID       int
	Inode     uint64
}

// ParsePackets reads /proc/PID/net/packet after its header line.
func ParsePackets(r io.Reader) ([]PacketSocket, error) {
	var out []PacketSocket
	err := eachRow(r, true, func(f []string) {
		// sk RefCnt Type Proto Iface R Rmem User Inode
		if len(f) < 9 {
			return
		}
		typ, _ := strconv.Atoi(f[2])
		proto, _ := strconv.ParseUint(f[3], 16, 16)
		iface, _ := strconv.Atoi(f[4])
		uid, _ := strconv.Atoi(f[7])
		ino, _ := strconv.ParseUint(f[8], 10, 64)
		// The kernel prints the protocol in network byte order.
		p := uint16(proto)
		out = append(out, PacketSocket{Type: typ, Protocol: p>>8 | p<<8, Interface: iface, Running: f[5] == "1", UID: uid, Inode: ino})
	})
	return out, err
}

// Counters are an interface's totals from /proc/PID/net/dev.
type Counters struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// ParseNetDev reads /proc/PID/net/dev: interface name to its counters.
func ParseNetDev(r io.Reader) (map[string]Counters, error) {
	out := map[string]Counters{}
	sc := bufio.NewScanner(r)
	for i := 0; sc.Scan(); i++ {
		if i < 2 {
			continue // two header lines
		}
		name, rest, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 16 {
			continue
		}
		n := make([]uint64, 16)
		for j := range n {
			n[j], _ = strconv.ParseUint(f[j], 10, 64)
		}
		out[strings.TrimSpace(name)] = Counters{RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3], TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11]}
	}
	return out, sc.Err()
}

func route(iface string, dst netip.Prefix, gw netip.Addr) Route {
	r := Route{Interface: iface, Destination: dst}
	if !gw.IsUnspecified() {
		r.Gateway = gw
	}
	return r
}

// eachRow calls fn with the fields of every line of r, after the first
// when header is set.
func eachRow(r io.Reader, header bool, fn func(f []string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if header {
		sc.Scan()
	}
	for sc.Scan() {
		fn(strings.Fields(sc.Text()))
	}
	return sc.Err()
}

// parseWords decodes an address that /proc/net prints as hex 32-bit words
// in host (little-endian) order: 8 digits for IPv4, 32 for IPv6.
func parseWords(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	var x [16]byte
	for w := 0; w < len(b)/4; w++ {
		for i := 0; i < 4; i++ {
			x[w*4+i] = b[w*4+3-i]
		}
	}
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(x[:4])), true
	}
	return netip.AddrFrom16(x), true
}

// parseAddr4 decodes an IPv4 address of /proc/net/route.
func parseAddr4(s string) (netip.Addr, bool) {
	a, ok := parseWords(s)
	return a, ok && a.Is4()
}

// parseAddr6 decodes an IPv6 address as ipv6_route prints it: 32 hex digits
// in network (big-endian) order.
func parseAddr6(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(b)), true
}

// parseAddrPort decodes "ADDR:PORT" of the socket tables (the zero
// AddrPort when it does not parse).
func parseAddrPort(s string) netip.AddrPort {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}
	}
	ip, ok := parseWords(a)
	if !ok {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port))
}

// SocketInode reads the inode from a /proc/PID/fd link to a socket
// ("socket:[12345]").
func SocketInode(link string) (uint64, bool) {
	v, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
	return n, err == nil
}
