package drill

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"firebreak/collect"
)

// HostState is what a drill must leave as it found on the host: the
// firewall's rules, the engine socket's mode, the runtime binaries, and
// the kernel's core_pattern. A drill takes it before and after and
// reports any difference.
type HostState struct {
	Nftables    []string          `json:"nftables"`    // `nft list ruleset`, counters taken out
	SocketMode  string            `json:"socket_mode"` // the engine socket's mode and owner
	Binaries    map[string]string `json:"binaries"`    // runc, shims, engine binaries: path -> sha256
	CorePattern string            `json:"core_pattern"`
	Notes       []string          `json:"notes,omitempty"` // what could not be read
}

// HostFiles are where TakeHostState reads; a seam for tests.
type HostFiles struct {
	Socket      string   // the engine's socket ("/var/run/docker.sock")
	Binaries    []string // runtime binaries
	CorePattern string   // /proc/sys/kernel/core_pattern
	Nft         string   // the nft binary ("" to look it up)
}

// DefaultHostFiles are the host's.
func DefaultHostFiles(socket string) HostFiles {
	if socket == "" {
		socket = "/var/run/docker.sock"
	}
	return HostFiles{Socket: socket, Binaries: collect.DefaultHostFiles("").Binaries, CorePattern: "/proc/sys/kernel/core_pattern"}
}

var nftCounter = regexp.MustCompile(`counter packets [0-9]+ bytes [0-9]+`)

// engineBridge matches the rules Docker keeps for each user network's
// bridge: they come and go with networks (anyone's, while the drill runs on
// a shared host), and the drill's own networks are checked gone by the
// zero-residue check, so they are not the host's firewall here.
var engineBridge = regexp.MustCompile(`"br-[0-9a-f]{12}"`)

// TakeHostState reads the host's state. What cannot be read is a note
// (and compares equal only to the same note).
func TakeHostState(ctx context.Context, f HostFiles) HostState {
	h := HostState{Binaries: map[string]string{}}
	nft := f.Nft
	if nft == "" {
		nft, _ = exec.LookPath("nft")
	}
	if nft != "" {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := exec.CommandContext(cctx, nft, "list", "ruleset").Output()
		cancel()
		if err != nil {
			h.Notes = append(h.Notes, "nft list ruleset: "+err.Error())
		} else {
			for _, l := range strings.Split(string(out), "\n") {
				if l = strings.TrimRight(nftCounter.ReplaceAllString(l, "counter"), " \t"); l != "" && !engineBridge.MatchString(l) {
					h.Nftables = append(h.Nftables, l)
				}
			}
		}
	} else {
		h.Notes = append(h.Notes, "no nft on this host: the firewall's rules are not compared")
	}
	if fi, err := os.Stat(f.Socket); err == nil {
		h.SocketMode = fmt.Sprintf("%s %s", fi.Mode(), ownerOf(fi))
	} else {
		h.SocketMode = "unreadable: " + err.Error()
	}
	for _, b := range f.Binaries {
		if sum, err := collect.FileSHA256(b); err == nil {
			h.Binaries[b] = sum
		} else {
			h.Binaries[b] = "unreadable: " + err.Error()
		}
	}
	if b, err := os.ReadFile(f.CorePattern); err == nil {
		h.CorePattern = strings.TrimRight(string(b), "\n")
	} else {
		h.CorePattern = "unreadable: " + err.Error()
	}
	return h
}

func ownerOf(fi os.FileInfo) string {
	if st, ok := fi.Sys().(interface{ Uid() uint32 }); ok {
		return fmt.Sprint(st.Uid())
	}
	return fmt.Sprintf("%v", fi.Sys())
}

// Diff names every way b differs from a (the state before), empty when
// the host is as it was.
func (a HostState) Diff(b HostState) []string {
	var out []string
	if !slices.Equal(a.Nftables, b.Nftables) {
		added, removed := lineDiff(a.Nftables, b.Nftables)
		msg := "the firewall's rules changed"
		if len(added) > 0 {
			msg += "; added: " + strings.Join(first(added, 3), " | ")
		}
		if len(removed) > 0 {
			msg += "; removed: " + strings.Join(first(removed, 3), " | ")
		}
		out = append(out, msg)
	}
	if a.SocketMode != b.SocketMode {
		out = append(out, fmt.Sprintf("the engine socket's mode is %s, was %s", b.SocketMode, a.SocketMode))
	}
	var paths []string
	for p := range a.Binaries {
		paths = append(paths, p)
	}
	for p := range b.Binaries {
		if _, ok := a.Binaries[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		if a.Binaries[p] != b.Binaries[p] {
			out = append(out, fmt.Sprintf("%s changed: sha256 %.16s, was %.16s", p, b.Binaries[p], a.Binaries[p]))
		}
	}
	if a.CorePattern != b.CorePattern {
		out = append(out, fmt.Sprintf("core_pattern is %q, was %q", b.CorePattern, a.CorePattern))
	}
	return out
}

func lineDiff(a, b []string) (added, removed []string) {
	count := map[string]int{}
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		if count[l] > 0 {
			count[l]--
			continue
		}
		added = append(added, strings.TrimSpace(l))
	}
	for _, l := range a {
		if count[l] > 0 {
			count[l]--
			removed = append(removed, strings.TrimSpace(l))
		}
	}
	return added, removed
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clone(s[:n]), fmt.Sprintf("(%d more)", len(s)-n))
	}
	return s
}
