package server

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAccept4ReportsThePeer accepts real loopback connections, IPv4 and
// IPv6, and checks the address accept4 parses against the client's own.
func TestAccept4ReportsThePeer(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("no %s here: %v", addr, err)
			}
			defer ln.Close()
			f, err := ln.(*net.TCPListener).File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			fd, peer, err := accept4(f.Fd())
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			want := netip.MustParseAddrPort(c.LocalAddr().String())
			if peer != want {
				t.Fatalf("accept4 reports %v, the client is %v", peer, want)
			}
			if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || flags&unix.O_NONBLOCK == 0 {
				t.Fatalf("accepted descriptor flags %#x (%v), want O_NONBLOCK", flags, err)
			}
		})
	}
}
