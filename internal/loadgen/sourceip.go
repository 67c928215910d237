package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
)

// checkSourceIP reports why ip cannot be a source address for clients of
// the servers at urls: not an IP address, not an address of this machine,
// or not loopback while a server is on loopback (the kernel routes loopback
// destinations only from loopback sources).
func checkSourceIP(ip string, urls []*url.URL) error {
	addr := net.ParseIP(ip)
	if addr == nil {
		return fmt.Errorf("%q is not an IP address", ip)
	}
	for _, u := range urls {
		if host := net.ParseIP(u.Hostname()); host != nil && host.IsLoopback() && !addr.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address, and the server %s is on loopback: use 127.x.y.z addresses (any of them is local), or leave -source-ips out", ip, u.Host)
		}
	}
	// Binding a listener to ip, port chosen by the kernel, is how the
	// kernel itself tells whether the address is local.
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("%s is not an address of this machine (ip -brief address lists them; any 127.x.y.z is local)", ip)
		}
		return fmt.Errorf("cannot bind to %s: %v", ip, err)
	}
	return ln.Close()
}
