package collect

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"firebreak/runtime"
)

// Neighbour is one entry of a namespace's ARP (IPv4) or NDP (IPv6) cache.
type Neighbour struct {
	Address   string `json:"address"`
	MAC       string `json:"mac,omitempty"`
	Interface string `json:"interface"`
	State     string `json:"state"` // reachable, stale, failed, permanent, ...
}

var nudStates = []struct {
	bit  uint16
	name string
}{{0x01, "incomplete"}, {0x02, "reachable"}, {0x04, "stale"}, {0x08, "delay"}, {0x10, "probe"}, {0x20, "failed"}, {0x40, "noarp"}, {0x80, "permanent"}}

// neighbours dumps the neighbour tables of the calling thread's network
// namespace over rtnetlink (RTM_GETNEIGH).
func neighbours() ([]Neighbour, error) {
	tab, err := syscall.NetlinkRIB(syscall.RTM_GETNEIGH, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink neighbour dump: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(tab)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink neighbour dump: %w", err)
	}
	names := map[int]string{}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			names[i.Index] = i.Name
		}
	}
	out := []Neighbour{}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWNEIGH || len(m.Data) < 12 {
			continue
		}
		// struct ndmsg: family, pad, pad16, ifindex, state, flags, type.
		ifindex := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
		state := binary.NativeEndian.Uint16(m.Data[8:10])
		n := Neighbour{Interface: names[ifindex], State: "none"}
		if n.Interface == "" {
			n.Interface = strconv.Itoa(ifindex)
		}
		for _, s := range nudStates {
			if state&s.bit != 0 {
				n.State = s.name
			}
		}
		for b := m.Data[12:]; len(b) >= 4; {
			l := int(binary.NativeEndian.Uint16(b[0:2]))
			typ := binary.NativeEndian.Uint16(b[2:4])
			if l < 4 || l > len(b) {
				break
			}
			v := b[4:l]
			switch typ {
			case 1: // NDA_DST
				if ip := net.IP(v); len(v) == 4 || len(v) == 16 {
					n.Address = ip.String()
				}
			case 2: // NDA_LLADDR
				n.MAC = net.HardwareAddr(v).String()
			}
			b = b[min((l+3)&^3, len(b)):]
		}
		if n.Address != "" {
			out = append(out, n)
		}
	}
	return out, nil
}

// maxConntrack bounds how many tracked connections are kept.
const maxConntrack = 10000

// conntrack reads the namespace's tracked connections where the kernel
// prints them (nf_conntrack with its procfs interface).
func conntrack(procRoot string, pid int, notes []string) ([]string, []string) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "net/nf_conntrack"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, append(notes, "conntrack: this kernel prints no tracked connections (nf_conntrack not loaded, or built without its /proc interface)")
	}
	if err != nil {
		return nil, append(notes, "conntrack: "+err.Error())
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(out) == maxConntrack {
			return out, append(notes, fmt.Sprintf("conntrack: capped at %d entries", maxConntrack))
		}
		out = append(out, sc.Text())
	}
	return out, notes
}

// firewallDump runs one of the host's own tools (nft, iptables-save) in the
// network namespace of pid, through nsenter, for the container's own rules
// (Firebreak's drop rules among them while it is contained).
func firewallDump(ctx context.Context, procRoot string, pid int, tool string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(tool); err != nil {
		return nil, fmt.Errorf("%s is not installed on the host", tool)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + filepath.Join(procRoot, strconv.Itoa(pid), "ns/net"), "--", tool}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return out, fmt.Errorf("%s: %v: %s", tool, err, firstLine(string(ee.Stderr)))
		}
		return out, fmt.Errorf("%s: %w", tool, err)
	}
	return out, nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// maxEtcFile bounds what is kept of /etc/hosts, resolv.conf and hostname.
const maxEtcFile = 1 << 20

// networkExtras stores what network.json does not hold: the namespace's own
// firewall rules, dumped by the host's tools, and the files the engine
// bind-mounts over /etc/hosts, /etc/resolv.conf and /etc/hostname, which
// live outside the writable layer (a DNS hijack there is not in the fs
// diff). What cannot be had is recorded as incomplete.
func (c *collection) networkExtras() error {
	for _, d := range []struct {
		name, tool string
		args       []string
	}{
		{"network/nftables.json", "nft", []string{"-j", "list", "ruleset"}},
		{"network/iptables.txt", "iptables-save", nil},
		{"network/ip6tables.txt", "ip6tables-save", nil},
	} {
		out, err := firewallDump(c.ctx, c.opts.ProcRoot, c.d.Pid, d.tool, d.args...)
		if err != nil {
			c.incomplete(WhatNetwork, fmt.Sprintf("%s: %v", d.name, err))
			continue
		}
		if err := c.put(d.name, WhatNetwork, bytes.NewReader(out)); err != nil {
			return err
		}
	}
	for dest, src := range etcFiles(c.d.Raw, c.d.Security.Mounts) {
		b, err := readSmallFile(src, maxEtcFile)
		if err != nil {
			c.incomplete(WhatNetwork, fmt.Sprintf("%s (%s on the host): %v", dest, src, err))
			continue
		}
		if err := c.put("network"+dest, WhatNetwork, bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return nil
}

// etcFiles are the host files an engine mounts over the container's
// /etc/hosts, /etc/resolv.conf and /etc/hostname: Docker names them in its
// document (HostsPath, ResolvConfPath, HostnamePath); elsewhere they are
// bind mounts.
func etcFiles(raw []byte, mounts []runtime.Mount) map[string]string {
	out := map[string]string{}
	var doc struct{ HostsPath, ResolvConfPath, HostnamePath string }
	if json.Unmarshal(raw, &doc) == nil {
		for dest, src := range map[string]string{"/etc/hosts": doc.HostsPath, "/etc/resolv.conf": doc.ResolvConfPath, "/etc/hostname": doc.HostnamePath} {
			if src != "" {
				out[dest] = src
			}
		}
	}
	for _, m := range mounts {
		switch m.Destination {
		case "/etc/hosts", "/etc/resolv.conf", "/etc/hostname":
			if _, ok := out[m.Destination]; !ok && m.Source != "" {
				out[m.Destination] = m.Source
			}
		}
	}
	return out
}

// readSmallFile reads a regular file without following a link at its last
// component, at most max bytes (more is an error: these files are small).
func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("larger than %d bytes", max)
	}
	return b, err
}
