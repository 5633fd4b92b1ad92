package collect

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"firebreak/internal/netns"
)

// NetworkState is network.json: the container's network namespace as the
// host reads it.
type NetworkState struct {
	Namespace  string      `json:"namespace"` // e.g. net:[4026532281]
	Interfaces []Interface `json:"interfaces"`
	Routes     []Route     `json:"routes"`
	Sockets    []Socket    `json:"sockets"`
	Notes      []string    `json:"notes,omitempty"`
}

// Interface is one network interface and its addresses.
type Interface struct {
	Name  string   `json:"name"`
	Index int      `json:"index"`
	MAC   string   `json:"mac,omitempty"`
	MTU   int      `json:"mtu"`
	Flags string   `json:"flags"`
	Addrs []string `json:"addrs"`
}

// Route is one IPv4 or IPv6 route.
type Route struct {
	Family      string `json:"family"`
	Destination string `json:"destination"`
	Gateway     string `json:"gateway,omitempty"`
	Interface   string `json:"interface"`
}

// Socket is one socket of the namespace, with its peer and owners.
type Socket struct {
	Proto  string `json:"proto"` // tcp, tcp6, udp, udp6, raw, raw6, unix
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	State  string `json:"state,omitempty"`
	UID    int    `json:"uid"`
	Inode  uint64 `json:"inode"`
	Path   string `json:"path,omitempty"` // unix sockets
	PIDs   []int  `json:"pids,omitempty"` // processes holding it
}

var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// readNetwork reads the namespace of pid: interfaces over netlink from a
// thread that joined only that namespace; routes and sockets from
// /proc/PID/net on the host. owners maps socket inodes to the processes
// holding them.
func readNetwork(procRoot string, pid int, owners map[uint64][]int) NetworkState {
	st := NetworkState{Interfaces: []Interface{}, Routes: []Route{}, Sockets: []Socket{}}
	nsPath := filepath.Join(procRoot, strconv.Itoa(pid), "ns/net")
	st.Namespace, _ = os.Readlink(nsPath)
	err := netns.Do(nsPath, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, i := range ifs {
			it := Interface{Name: i.Name, Index: i.Index, MAC: i.HardwareAddr.String(), MTU: i.MTU, Flags: i.Flags.String(), Addrs: []string{}}
			if addrs, err := i.Addrs(); err == nil {
				for _, a := range addrs {
					it.Addrs = append(it.Addrs, a.String())
				}
			}
			st.Interfaces = append(st.Interfaces, it)
		}
		return nil
	})
	if err != nil {
		st.Notes = append(st.Notes, "interfaces: "+err.Error())
	}
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "net")
	st.Routes = append(st.Routes, routes4(filepath.Join(dir, "route"))...)
	st.Routes = append(st.Routes, routes6(filepath.Join(dir, "ipv6_route"))...)
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6"} {
		st.Sockets = append(st.Sockets, inetSockets(filepath.Join(dir, proto), proto, owners)...)
	}
	st.Sockets = append(st.Sockets, unixSockets(filepath.Join(dir, "unix"), owners)...)
	return st
}

func lines(path string) [][]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	sc.Scan() // header
	for sc.Scan() {
		out = append(out, strings.Fields(sc.Text()))
	}
	return out
}

func routes4(path string) []Route {
	var out []Route
	for _, f := range lines(path) {
		if len(f) < 8 {
			continue
		}
		dst, ok1 := parseProcAddr4(f[1])
		gw, ok2 := parseProcAddr4(f[2])
		mask, ok3 := parseProcAddr4(f[7])
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		bits := 0
		for _, b := range mask.AsSlice() {
			for ; b != 0; b <<= 1 {
				bits++
			}
		}
		r := Route{Family: "inet", Destination: netip.PrefixFrom(dst, bits).String(), Interface: f[0]}
		if !gw.IsUnspecified() {
			r.Gateway = gw.String()
		}
		out = append(out, r)
	}
	return out
}

func routes6(path string) []Route {
	f, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []Route
	for _, line := range strings.Split(strings.TrimSpace(string(f)), "\n") {
		x := strings.Fields(line)
		if len(x) < 10 {
			continue
		}
		dst, ok1 := parseHex6(x[0])
		gw, ok2 := parseHex6(x[4])
		bits, err := strconv.ParseInt(x[1], 16, 32)
		if !ok1 || !ok2 || err != nil {
			continue
		}
		r := Route{Family: "inet6", Destination: netip.PrefixFrom(dst, int(bits)).String(), Interface: x[9]}
		if !gw.IsUnspecified() {
			r.Gateway = gw.String()
		}
		out = append(out, r)
	}
	return out
}

// parseProcAddr4 decodes a little-endian hex IPv4 address from /proc/net.
func parseProcAddr4(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]}), true
}

// parseHex6 decodes an IPv6 address as ipv6_route prints it (big-endian).
func parseHex6(s string) (netip.Addr, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(b)), true
}

// parseSockAddr decodes "ADDR:PORT" of /proc/net/tcp and friends: IPv4 as one
// little-endian word, IPv6 as four little-endian words.
func parseSockAddr(s string) string {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return ""
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return ""
	}
	b, err := hex.DecodeString(a)
	if err != nil {
		return ""
	}
	var ip netip.Addr
	switch len(b) {
	case 4:
		ip = netip.AddrFrom4([4]byte{b[3], b[2], b[1], b[0]})
	case 16:
		var x [16]byte
		for w := 0; w < 4; w++ {
			for i := 0; i < 4; i++ {
				x[w*4+i] = b[w*4+3-i]
			}
		}
		ip = netip.AddrFrom16(x).Unmap()
	default:
		return ""
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

func inetSockets(path, proto string, owners map[uint64][]int) []Socket {
	var out []Socket
	for _, f := range lines(path) {
		if len(f) < 10 {
			continue
		}
		ino, _ := strconv.ParseUint(f[9], 10, 64)
		uid, _ := strconv.Atoi(f[7])
		s := Socket{Proto: proto, Local: parseSockAddr(f[1]), Remote: parseSockAddr(f[2]), UID: uid, Inode: ino, PIDs: owners[ino]}
		if strings.HasPrefix(proto, "tcp") {
			s.State = tcpStates[f[3]]
		} else {
			s.State = fmt.Sprintf("0x%s", f[3])
		}
		out = append(out, s)
	}
	return out
}

func unixSockets(path string, owners map[uint64][]int) []Socket {
	var out []Socket
	for _, f := range lines(path) {
		if len(f) < 7 {
			continue
		}
		ino, _ := strconv.ParseUint(f[6], 10, 64)
		s := Socket{Proto: "unix", Inode: ino, PIDs: owners[ino], State: f[5]}
		if len(f) > 7 {
			s.Path = strings.Join(f[7:], " ")
		}
		out = append(out, s)
	}
	return out
}
