package collect

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"firebreak/internal/netns"
	"firebreak/internal/procfs"
)

// NetworkState is network.json: the container's network namespace as the
// host reads it.
type NetworkState struct {
	Namespace  string      `json:"namespace"` // e.g. net:[4026532281]
	Interfaces []Interface `json:"interfaces"`
	Routes     []Route     `json:"routes"`
	Neighbours []Neighbour `json:"neighbours"` // the ARP and NDP caches: who it talked to on its links
	Sockets    []Socket    `json:"sockets"`
	// Conntrack are the kernel's tracked connections of the namespace, as
	// /proc/PID/net/nf_conntrack prints them (capped), where it does.
	Conntrack []string `json:"conntrack,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// Interface is one network interface and its addresses.
type Interface struct {
	Name  string   `json:"name"`
	Index int      `json:"index"`
	MAC   string   `json:"mac,omitempty"`
	MTU   int      `json:"mtu"`
	Flags string   `json:"flags"`
	Addrs []string `json:"addrs"`
	// Counters since the interface came up (/proc/PID/net/dev).
	RxBytes, RxPackets, RxErrors, RxDropped uint64 `json:",omitempty"`
	TxBytes, TxPackets, TxErrors, TxDropped uint64 `json:",omitempty"`
}

// Route is one IPv4 or IPv6 route.
type Route struct {
	Family      string `json:"family"`
	Destination string `json:"destination"`
	Gateway     string `json:"gateway,omitempty"`
	Interface   string `json:"interface"`
	Type        string `json:"type,omitempty"` // "unreachable" for a reject route (the kernel lists those on lo); "" for a way out
}

// Socket is one socket of the namespace, with its peer and owners.
type Socket struct {
	Proto  string `json:"proto"` // tcp, tcp6, udp, udp6, raw, raw6, unix, packet (Local: "ifindex N ethertype 0xNNNN")
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	State  string `json:"state,omitempty"`
	UID    int    `json:"uid"`
	Inode  uint64 `json:"inode"`
	Path   string `json:"path,omitempty"` // unix sockets
	PIDs   []int  `json:"pids,omitempty"` // processes holding it
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
	// A table that cannot be read (no IPv6 in the kernel, the process
	// gone) contributes nothing, as before the parsing moved to procfs.
	root := procfs.Root(procRoot)
	routes, _ := root.Routes(pid)
	for _, r := range routes {
		out := Route{Family: "inet6", Destination: r.Destination.String(), Interface: r.Interface}
		if r.Destination.Addr().Is4() {
			out.Family = "inet"
		}
		if r.Gateway.IsValid() {
			out.Gateway = r.Gateway.String()
		}
		if r.Reject {
			out.Type = "unreachable"
		}
		st.Routes = append(st.Routes, out)
	}
	if counters, err := root.NetDev(pid); err == nil {
		for i := range st.Interfaces {
			if c, ok := counters[st.Interfaces[i].Name]; ok {
				it := &st.Interfaces[i]
				it.RxBytes, it.RxPackets, it.RxErrors, it.RxDropped = c.RxBytes, c.RxPackets, c.RxErrors, c.RxDropped
				it.TxBytes, it.TxPackets, it.TxErrors, it.TxDropped = c.TxBytes, c.TxPackets, c.TxErrors, c.TxDropped
			}
		}
	}
	st.Neighbours = []Neighbour{}
	if err := netns.Do(nsPath, func() error {
		var err error
		st.Neighbours, err = neighbours()
		return err
	}); err != nil {
		st.Notes = append(st.Notes, "neighbours: "+err.Error())
	}
	if packets, err := root.Packets(pid); err == nil {
		for _, p := range packets {
			st.Sockets = append(st.Sockets, Socket{Proto: "packet", Local: fmt.Sprintf("ifindex %d ethertype 0x%04x", p.Interface, p.Protocol), UID: p.UID, Inode: p.Inode, PIDs: owners[p.Inode], State: map[bool]string{true: "running", false: "stopped"}[p.Running]})
		}
	}
	st.Conntrack, st.Notes = conntrack(procRoot, pid, st.Notes)
	for _, proto := range []procfs.Proto{procfs.TCP, procfs.TCP6, procfs.UDP, procfs.UDP6, procfs.Raw, procfs.Raw6, procfs.Unix} {
		socks, _ := root.Sockets(pid, proto)
		for _, s := range socks {
			st.Sockets = append(st.Sockets, socket(s, owners))
		}
	}
	return st
}

// socket is a socket table row as network.json has it.
func socket(s procfs.Socket, owners map[uint64][]int) Socket {
	out := Socket{Proto: string(s.Proto), UID: s.UID, Inode: s.Inode, Path: s.Path, PIDs: owners[s.Inode]}
	switch s.Proto {
	case procfs.Unix:
		out.State = s.State
	case procfs.TCP, procfs.TCP6:
		out.State = s.TCPState()
	default:
		out.State = "0x" + s.State
	}
	if s.Local.IsValid() {
		out.Local = s.Local.String()
	}
	if s.Remote.IsValid() {
		out.Remote = s.Remote.String()
	}
	return out
}
