package loadgen

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// fdHeadroom is how many descriptors a process keeps for itself besides its
// clients: the epoll instance, stdio, pipes to workers, the metrics
// listener, dials in progress.
const fdHeadroom = 256

// defaultPortsPerAddress is used when the ephemeral port range cannot be
// read; it is Linux's default range 32768-60999.
const defaultPortsPerAddress = 28232

// portHeadroom is the share of a source address's ports left unused, for
// sockets in TIME_WAIT and other programs.
const portHeadroom = 0.05

// clientsPerProcess is how many clients one process can hold: its
// file-descriptor limit minus headroom.
func clientsPerProcess() (int, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	n := int(min(rl.Cur, 1<<30)) - fdHeadroom
	if n < 1 {
		return 0, fmt.Errorf("the file-descriptor limit %d leaves no room for clients (raise ulimit -n)", rl.Cur)
	}
	return n, nil
}

// portsPerAddress is how many connections one source address can open to
// one server address: the kernel's ephemeral port range, minus headroom.
func portsPerAddress() int {
	n := defaultPortsPerAddress
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && hi >= lo {
				n = hi - lo + 1
			}
		}
	}
	return int(float64(n) * (1 - portHeadroom))
}

// plan decides how many processes run the clients and from which source
// addresses.
func plan(cfg Config, host string) (procs int, ips []string, err error) {
	perProc := cfg.ClientsPerProcess
	limit, err := clientsPerProcess()
	if err != nil {
		return 0, nil, err
	}
	if perProc == 0 || perProc > limit {
		perProc = limit
	}
	procs = (cfg.Clients + perProc - 1) / perProc
	ports := portsPerAddress()
	ips = cfg.SourceIPs
	if len(ips) == 0 {
		need := (cfg.Clients + ports - 1) / ports
		if need <= 1 {
			return procs, nil, nil
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return 0, nil, fmt.Errorf("%w: %d clients need %d source addresses at %d ports each; pass them with -source-ips", ErrConfig, cfg.Clients, need, ports)
		}
		for i := range need {
			ips = append(ips, fmt.Sprintf("127.0.0.%d", i+1))
		}
		return procs, ips, nil
	}
	if per := (cfg.Clients + len(ips) - 1) / len(ips); per > ports {
		return 0, nil, fmt.Errorf("%w: %d clients over %d source addresses is %d each, more than the %d ports an address has", ErrConfig, cfg.Clients, len(ips), per, ports)
	}
	return procs, ips, nil
}
