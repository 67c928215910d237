package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"
)

// Defaults of EmbeddedConfig.
const (
	// DefaultEmbeddedListen is the embedded NATS server's client address.
	DefaultEmbeddedListen = "127.0.0.1:4222"
	// DefaultClusterName names the NATS cluster the embedded servers form.
	DefaultClusterName = "chat"
	// DefaultEmbeddedReadyTimeout bounds the wait for the embedded server
	// to accept clients and, in a cluster, for JetStream to elect its
	// meta leader, which takes a majority of the routed servers.
	DefaultEmbeddedReadyTimeout = time.Minute
	// embeddedPoll is the pause between two looks at the meta leader.
	embeddedPoll = 50 * time.Millisecond
)

// EmbeddedConfig configures a NATS server run inside the chat process,
// so that a small cluster needs nothing else installed. Zero values mean
// the defaults above.
type EmbeddedConfig struct {
	// StoreDir is the JetStream store directory; required.
	StoreDir string
	// Listen is the client address, host:port (port 0: a free one).
	Listen string
	// Cluster is the route address, host:port, that the other servers
	// of the NATS cluster connect to; empty: a server of its own.
	Cluster string
	// Routes are the other servers' route URLs, comma-separated
	// (nats://host:6222,...); this server's own may be among them.
	Routes string
	// ClusterName names the NATS cluster; every server of it has the same.
	ClusterName string
	// ServerName names this server, unique in the cluster (JetStream
	// clustering needs it); empty: the host name and the client port (a
	// random suffix for port 0).
	ServerName string
	// ReadyTimeout bounds StartEmbedded's wait for the server, and in a
	// cluster for the JetStream meta leader.
	ReadyTimeout time.Duration

	Logger *zap.Logger // nil: none
}

// Embedded is a NATS server with JetStream running in this process.
type Embedded struct {
	ns *natsserver.Server // static after StartEmbedded
}

// StartEmbedded starts a NATS server with JetStream as cfg says and waits
// until it accepts clients and, when it is routed to others, until its
// JetStream cluster has a meta leader (streams can be made only then).
// It fails when that takes longer than cfg.ReadyTimeout or ctx ends.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded nats: a store directory is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultEmbeddedListen
	}
	if cfg.ClusterName == "" {
		cfg.ClusterName = DefaultClusterName
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultEmbeddedReadyTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	host, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen address: %w", err)
	}
	if cfg.ServerName == "" {
		h, _ := os.Hostname()
		if port > 0 {
			cfg.ServerName = h + "-" + strconv.Itoa(port)
		} else {
			cfg.ServerName = h + "-" + nuid.Next() // a random port: a random name
		}
	}
	opts := &natsserver.Options{ServerName: cfg.ServerName, Host: host, Port: port, JetStream: true,
		StoreDir: cfg.StoreDir, NoSigs: true}
	if cfg.Cluster != "" {
		ch, cp, err := splitHostPort(cfg.Cluster)
		if err != nil {
			return nil, fmt.Errorf("embedded nats cluster address: %w", err)
		}
		opts.Cluster = natsserver.ClusterOpts{Name: cfg.ClusterName, Host: ch, Port: cp}
		if cfg.Routes != "" {
			opts.Routes = natsserver.RoutesFromStr(cfg.Routes)
		}
	} else if cfg.Routes != "" {
		return nil, errors.New("embedded nats: routes need a cluster address")
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(natsLogger{cfg.Logger.Sugar()}, false, false, false)
	go ns.Start()
	e := &Embedded{ns: ns}
	deadline := time.Now().Add(cfg.ReadyTimeout)
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats not ready after %v", cfg.ReadyTimeout)
	}
	if cfg.Cluster == "" {
		return e, nil
	}
	logged := time.Now()
	for !e.hasMetaLeader() {
		if time.Now().After(deadline) {
			ns.Shutdown()
			return nil, fmt.Errorf("embedded nats: no JetStream meta leader after %v (%d routes up): are a majority of the cluster's servers running?",
				cfg.ReadyTimeout, ns.NumRoutes())
		}
		if time.Since(logged) > 5*time.Second {
			cfg.Logger.Info("waiting for a JetStream meta leader", zap.Int("routes", ns.NumRoutes()))
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			ns.Shutdown()
			return nil, ctx.Err()
		case <-time.After(embeddedPoll):
		}
	}
	return e, nil
}

// hasMetaLeader reports whether the server's JetStream cluster has elected
// its meta leader.
func (e *Embedded) hasMetaLeader() bool {
	info, err := e.ns.Jsz(nil)
	return err == nil && info.Meta != nil && info.Meta.Leader != ""
}

// ClientURL returns the URL clients (the broker) connect to.
func (e *Embedded) ClientURL() string { return e.ns.ClientURL() }

// Name returns the server's name in its cluster.
func (e *Embedded) Name() string { return e.ns.Name() }

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
}

// splitHostPort splits host:port; port 0 becomes nats-server's "a free
// one".
func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	return h, port, nil
}

// natsLogger writes the embedded server's log to zap.
type natsLogger struct{ s *zap.SugaredLogger }

func (l natsLogger) Noticef(format string, v ...any) { l.s.Infof(format, v...) }
func (l natsLogger) Warnf(format string, v ...any)   { l.s.Warnf(format, v...) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.s.Errorf(format, v...) }
func (l natsLogger) Errorf(format string, v ...any)  { l.s.Errorf(format, v...) }
func (l natsLogger) Debugf(format string, v ...any)  { l.s.Debugf(format, v...) }
func (l natsLogger) Tracef(format string, v ...any)  { l.s.Debugf(format, v...) }
