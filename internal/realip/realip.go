package realip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Header is the header read from trusted proxies.
const Header = "X-Forwarded-For"

// ParsePrefixes parses a comma-separated list of CIDR prefixes and bare
// addresses (a single host: /32 or /128), such as "127.0.0.1, ::1,
// 10.0.0.0/8". An empty list is no trusted proxy.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("realip: trusted proxy %q: %w", s, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("realip: trusted proxy %q: %w", s, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Resolver finds client addresses. The zero value and New(nil) trust no
// proxy. It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix // static after construction
}

// New returns a Resolver that trusts the proxies in trusted.
func New(trusted []netip.Prefix) *Resolver {
	r := &Resolver{trusted: make([]netip.Prefix, len(trusted))}
	for i, p := range trusted {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		r.trusted[i] = p.Masked()
	}
	return r
}

// Trusted reports whether addr is a trusted proxy.
func (r *Resolver) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range r.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientAddr returns the client's address for a connection from
// remoteAddr ("host:port" as net.Conn.RemoteAddr gives it, or a bare
// address) carrying the X-Forwarded-For header values xff (in the order
// received; several header lines count as one list). It returns the zero
// Addr only when remoteAddr does not parse.
func (r *Resolver) ClientAddr(remoteAddr string, xff []string) netip.Addr {
	peer, ok := parseAddr(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	return r.client(peer, xff)
}

// PeerClientAddr is ClientAddr for a peer address already parsed, such as
// accept reports it; it returns the zero Addr for the zero peer.
func (r *Resolver) PeerClientAddr(peer netip.Addr, xff []string) netip.Addr {
	if !peer.IsValid() || peer.Zone() != "" {
		return netip.Addr{}
	}
	return r.client(peer.Unmap(), xff)
}

// client is ClientAddr for the parsed, unmapped peer address.
func (r *Resolver) client(peer netip.Addr, xff []string) netip.Addr {
	if len(xff) == 0 || !r.Trusted(peer) {
		return peer
	}
	last := peer // the nearest hop known to be a trusted proxy or the client
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(xff[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseAddr(strings.TrimSpace(entries[j]))
			if !ok { // an empty or malformed entry
				return last
			}
			if !r.Trusted(a) {
				return a
			}
			last = a
		}
	}
	return last
}

// FromRequest is ClientAddr for an *http.Request.
func (r *Resolver) FromRequest(req *http.Request) netip.Addr {
	return r.ClientAddr(req.RemoteAddr, req.Header.Values(Header))
}

// parseAddr parses an address with or without a port ("1.2.3.4",
// "1.2.3.4:80", "::1", "[::1]:80"), without zone, 4-in-6 unmapped.
func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
