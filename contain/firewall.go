package contain

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

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
	chains := []struct {
		name string
		hook *nftables.ChainHook
		lo   expr.MetaKey // interface key matched against "lo"
		addr uint32       // 0 source, 1 destination
	}{
		{"input", nftables.ChainHookInput, expr.MetaKeyIIFNAME, 0},
		{"output", nftables.ChainHookOutput, expr.MetaKeyOIFNAME, 1},
		{"forward", nftables.ChainHookForward, 0, 0},
	}
	for _, c := range chains {
		ch := conn.AddChain(&nftables.Chain{
			Name:     c.name,
			Table:    table,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  c.hook,
			Priority: nftables.ChainPriorityRef(-300),
			Policy:   &drop,
		})
		if c.lo == 0 {
			continue
		}
		conn.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: c.lo, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}})
		for _, p := range allow {
			conn.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: prefixMatch(p, c.addr == 1)})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("installing drop rules in %s: %w", nsPath, err)
	}
	return nil
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
// still has its three drop-policy chains (a container with NET_ADMIN can
// delete or change them from inside).
// HasDropRules reports whether Firebreak's drop rules are in the network
// namespace at nsPath.
func HasDropRules(nsPath string) (bool, error) { return firewallPresent(nsPath) }

func firewallPresent(nsPath string) (bool, error) {
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
		if c.Table.Name == TableName && c.Policy != nil && *c.Policy == nftables.ChainPolicyDrop {
			dropping++
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
