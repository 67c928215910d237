package realip

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 127.0.0.1, ::1 ,10.1.2.3/8,, ::ffff:192.168.0.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1/32 ::1/128 10.0.0.0/8 192.168.0.1/32 fd00::/8"
	var s []string
	for _, p := range got {
		s = append(s, p.String())
	}
	if strings.Join(s, " ") != want {
		t.Errorf("ParsePrefixes = %v, want %s", s, want)
	}
	if p, err := ParsePrefixes(""); err != nil || len(p) != 0 {
		t.Errorf("empty list: %v, %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "1.2.3", "10.0.0.0/8, nope"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
}

func TestClientAddr(t *testing.T) {
	trusted, err := ParsePrefixes("127.0.0.1, 10.0.0.0/8, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	r := New(trusted)
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no header", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer: header ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted peer, no header", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"through nginx", "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed entries left of the real one", "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"several header lines are one list", "127.0.0.1:5000", []string{"6.6.6.6", "198.51.100.1", "10.0.0.2, 10.0.0.3"}, "198.51.100.1"},
		{"every hop trusted: the farthest", "127.0.0.1:5000", []string{"10.0.0.9, 10.0.0.2"}, "10.0.0.9"},
		{"garbage stops at the last trusted hop", "127.0.0.1:5000", []string{"198.51.100.1, nonsense, 10.0.0.2"}, "10.0.0.2"},
		{"empty entry stops", "127.0.0.1:5000", []string{"198.51.100.1, , 10.0.0.2"}, "10.0.0.2"},
		{"garbage right at the proxy", "127.0.0.1:5000", []string{"unknown"}, "127.0.0.1"},
		{"entry with a port", "127.0.0.1:5000", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 entry", "127.0.0.1:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"bracketed IPv6 entry with port", "127.0.0.1:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 trusted peer", "[fd00::5]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"4-in-6 peer is the IPv4 proxy", "[::ffff:127.0.0.1]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"4-in-6 entry unmapped", "127.0.0.1:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"bare peer address", "127.0.0.1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"zone refused", "127.0.0.1:1", []string{"fe80::1%eth0"}, "127.0.0.1"},
		{"bad peer", "nonsense", []string{"203.0.113.9"}, "invalid IP"},
	} {
		got := r.ClientAddr(tc.remote, tc.xff)
		if got.String() != tc.want {
			t.Errorf("%s: ClientAddr(%q, %q) = %v, want %s", tc.name, tc.remote, tc.xff, got, tc.want)
		}
		if ap, err := netip.ParseAddrPort(tc.remote); err == nil {
			if peer := r.PeerClientAddr(ap.Addr(), tc.xff); peer != got {
				t.Errorf("%s: PeerClientAddr(%v, %q) = %v, ClientAddr gives %v", tc.name, ap.Addr(), tc.xff, peer, got)
			}
		}
	}
}

func TestNoTrustedProxy(t *testing.T) {
	if got := New(nil).PeerClientAddr(netip.Addr{}, nil); got.IsValid() {
		t.Errorf("PeerClientAddr of the zero peer = %v, want the zero Addr", got)
	}
	for _, r := range []*Resolver{New(nil), {}} {
		if got := r.ClientAddr("127.0.0.1:80", []string{"203.0.113.9"}); got != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("no trusted proxy: %v, want the peer", got)
		}
	}
}

func TestFromRequest(t *testing.T) {
	trusted, _ := ParsePrefixes("192.0.2.1")
	req := httptest.NewRequest("GET", "/ws/ana", nil) // RemoteAddr 192.0.2.1:1234
	req.Header.Add("X-Forwarded-For", "6.6.6.6")
	req.Header.Add("X-Forwarded-For", "198.51.100.1")
	if got := New(trusted).FromRequest(req); got.String() != "198.51.100.1" {
		t.Errorf("FromRequest = %v", got)
	}
	if got := New(nil).FromRequest(req); got.String() != "192.0.2.1" {
		t.Errorf("FromRequest without trust = %v", got)
	}
}

func TestNewUnmapsPrefixes(t *testing.T) {
	r := New([]netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")})
	if !r.Trusted(netip.MustParseAddr("10.9.8.7")) || r.Trusted(netip.MustParseAddr("11.0.0.1")) {
		t.Errorf("a 4-in-6 prefix does not cover its IPv4 addresses")
	}
}
