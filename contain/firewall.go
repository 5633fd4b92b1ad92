package contain

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"firebreak/internal/netns"
)

// TableName is the nftables table Firebreak owns inside a contained
// container's network namespace.
const TableName = "firebreak"

// netnsFD opens a network namespace by path, for netlink and setns.
func netnsFD(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	return f, nil
}

// netnsInode returns the inode of a namespace file.
func netnsInode(path string) (uint64, error) { return netns.Inode(path) }

// nftIn opens an nftables connection in the namespace at nsPath. The
// namespace file may be closed once the connection exists.
func nftIn(nsPath string) (*nftables.Conn, error) {
	f, err := netnsFD(nsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())), nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables connection in %s: %w", nsPath, err)
	}
	return conn, nil
}

// installFirewall puts a table into the namespace at nsPath that drops every
// packet in and out except loopback and the allowed prefixes. It replaces a
// table of the same name in one transaction, so there is no moment without
// rules. It runs from the host over netlink: nothing is executed in the
// container.
func installFirewall(nsPath string, allow []netip.Prefix) error {
	conn, err := nftIn(nsPath)
	if err != nil {
		return err
	}
	defer conn.CloseLasting()
	exists, err := tablePresent(conn)
	if err != nil {
		return err
	}
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}
	if exists {
		conn.DelTable(table)
	}
	conn.AddTable(table)
	drop := nftables.ChainPolicyDrop
	for _, c := range firewallChains {
		ch := conn.AddChain(&nftables.Chain{
			Name:     c.name,
			Table:    table,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  c.hook,
			Priority: nftables.ChainPriorityRef(-300),
			Policy:   &drop,
		})
		for _, r := range c.rules(allow) {
			conn.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: r})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("installing drop rules in %s: %w", nsPath, err)
	}
	return nil
}

// installedAllow is what the drop rules held by n let through: as recorded
// when they were installed, or for a record from before that was kept,
// Allow and the quarantine network's subnets.
func installedAllow(n *NetworkHold) *[]netip.Prefix {
	src := n.Installed
	if src == nil {
		src = slices.Clone(n.Allow)
		if q := n.Quarantine; q != nil {
			src = append(src, q.Network.Subnets...)
		}
	}
	out := []netip.Prefix{}
	for _, s := range src {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return &out
}

// firewallChain is one of the three chains of Firebreak's table.
type firewallChain struct {
	name string
	hook *nftables.ChainHook
	lo   expr.MetaKey // interface key matched against "lo"; 0: no rules (forward)
	dst  bool         // allowed prefixes matched as destination (output) or source
}

var firewallChains = []firewallChain{
	{"input", nftables.ChainHookInput, expr.MetaKeyIIFNAME, false},
	{"output", nftables.ChainHookOutput, expr.MetaKeyOIFNAME, true},
	{"forward", nftables.ChainHookForward, 0, false},
}

// rules are the chain's rules before its drop policy: loopback, then each
// allowed prefix, accepted.
func (c firewallChain) rules(allow []netip.Prefix) [][]expr.Any {
	if c.lo == 0 {
		return nil
	}
	out := [][]expr.Any{{
		&expr.Meta{Key: c.lo, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}}
	for _, p := range allow {
		out = append(out, prefixMatch(p, c.dst))
	}
	return out
}

// ruleKey writes a rule's expressions in one comparable line, every field
// that decides what it matches and does; an expression of a kind
// Firebreak never installs is written with all its fields, so it never
// equals one of Firebreak's.
func ruleKey(exprs []expr.Any) string {
	var b strings.Builder
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			fmt.Fprintf(&b, "meta %d %v r%d; ", e.Key, e.SourceRegister, e.Register)
		case *expr.Cmp:
			fmt.Fprintf(&b, "cmp %d r%d %x; ", e.Op, e.Register, e.Data)
		case *expr.Payload:
			fmt.Fprintf(&b, "payload %d %d %d %d r%d r%d; ", e.OperationType, e.Base, e.Offset, e.Len, e.SourceRegister, e.DestRegister)
		case *expr.Bitwise:
			fmt.Fprintf(&b, "bitwise r%d r%d %d %x %x; ", e.SourceRegister, e.DestRegister, e.Len, e.Mask, bytes.TrimLeft(e.Xor, "\x00"))
		case *expr.Verdict:
			fmt.Fprintf(&b, "verdict %d %q; ", e.Kind, e.Chain)
		default:
			fmt.Fprintf(&b, "%T %+v; ", e, e)
		}
	}
	return b.String()
}

// prefixMatch builds "ip(6) saddr|daddr PREFIX accept".
func prefixMatch(p netip.Prefix, dst bool) []expr.Any {
	p = p.Masked()
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if p.Addr().Is6() {
		proto, off, n = unix.NFPROTO_IPV6, 8, 16
	}
	if dst {
		off += n
	}
	mask := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

func ifname(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

func tablePresent(conn *nftables.Conn) (bool, error) {
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("listing nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			return true, nil
		}
	}
	return false, nil
}

// firewallPresent reports whether Firebreak's table is in the namespace and
// still has its three drop-policy chains, holding only the rules it put
// there for allow (a container with NET_ADMIN can delete or change them
// from inside: an accept rule slipped into one of them opens the way out as
// surely as a deleted table).
// HasDropRules reports whether Firebreak's drop rules are in the network
// namespace at nsPath.
func HasDropRules(nsPath string) (bool, error) { return firewallPresent(nsPath, nil) }

// With allow nil only the table and its chains are checked, not their
// rules (release, which removes the table whatever it holds).
func firewallPresent(nsPath string, allow *[]netip.Prefix) (bool, error) {
	conn, err := nftIn(nsPath)
	if err != nil {
		return false, err
	}
	defer conn.CloseLasting()
	ok, err := tablePresent(conn)
	if err != nil || !ok {
		return false, err
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("listing nftables chains in %s: %w", nsPath, err)
	}
	dropping := 0
	for _, c := range chains {
		if c.Table.Name != TableName || c.Policy == nil || *c.Policy != nftables.ChainPolicyDrop {
			continue
		}
		dropping++
		if allow == nil {
			continue // presence alone asked
		}
		i := slices.IndexFunc(firewallChains, func(fc firewallChain) bool { return fc.name == c.Name })
		if i < 0 {
			return false, nil
		}
		var want []string
		for _, r := range firewallChains[i].rules(*allow) {
			want = append(want, ruleKey(r))
		}
		rules, err := conn.GetRules(c.Table, c)
		if err != nil {
			return false, fmt.Errorf("listing nftables rules of chain %s in %s: %w", c.Name, nsPath, err)
		}
		var got []string
		for _, r := range rules {
			got = append(got, ruleKey(r.Exprs))
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return false, nil
		}
	}
	return dropping == 3, nil
}

// removeFirewall deletes Firebreak's table from the namespace. A namespace
// that is gone, or has no such table, is not an error.
func removeFirewall(nsPath string) error {
	conn, err := nftIn(nsPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer conn.CloseLasting()
	ok, err := tablePresent(conn)
	if err != nil || !ok {
		return err
	}
	conn.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: TableName})
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("removing drop rules in %s: %w", nsPath, err)
	}
	return nil
}
