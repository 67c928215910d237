package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/chatplatform/chat/internal/auth"
	"github.com/chatplatform/chat/internal/protocol"
)

// UpgradeFailure is the reason label of chat_upgrade_failures_total.
type UpgradeFailure string

// Reasons an upgrade fails.
const (
	UpgradeBadClientID      UpgradeFailure = "bad_client_id"
	UpgradeBadRoom          UpgradeFailure = "bad_room"
	UpgradeBadHandshake     UpgradeFailure = "bad_handshake"
	UpgradeForbiddenOrigin  UpgradeFailure = "forbidden_origin"
	UpgradeServerFull       UpgradeFailure = "server_full"
	UpgradeHandshakeTimeout UpgradeFailure = "handshake_timeout"
	UpgradeDraining         UpgradeFailure = "draining"
	// UpgradeHandshakeEvicted counts silent or slow handshakes dropped to
	// make room for new connections while every handshake slot was taken.
	UpgradeHandshakeEvicted UpgradeFailure = "handshake_evicted"
	// UpgradeBadKey is a Sec-WebSocket-Key that is not the base64 of 16
	// bytes (RFC 6455 section 4.2.1).
	UpgradeBadKey UpgradeFailure = "bad_key"
	// UpgradeNotWebSocket is a plain GET of a WebSocket URL that would have
	// been accepted: it gets 426 Upgrade Required.
	UpgradeNotWebSocket UpgradeFailure = "not_websocket"
	// UpgradeDuplicateClientID is an anonymous connection whose client_id
	// is already connected, and alive, in the room: it gets 409.
	UpgradeDuplicateClientID UpgradeFailure = "duplicate_client_id"
)

// UpgradeFailures lists every upgrade failure reason. Token refusals are
// counted under auth's labels (auth.Labels), converted with
// UpgradeFailure(label), which end the list.
var UpgradeFailures = append([]UpgradeFailure{UpgradeBadClientID, UpgradeBadRoom, UpgradeBadHandshake, UpgradeForbiddenOrigin,
	UpgradeServerFull, UpgradeHandshakeTimeout, UpgradeDraining, UpgradeHandshakeEvicted, UpgradeBadKey, UpgradeNotWebSocket,
	UpgradeDuplicateClientID}, tokenFailures()...)

// tokenFailures returns auth.Labels as upgrade failure reasons.
func tokenFailures() []UpgradeFailure {
	fs := make([]UpgradeFailure, len(auth.Labels))
	for i, l := range auth.Labels {
		fs[i] = UpgradeFailure(l)
	}
	return fs
}

// RejectReason is the reason label of chat_messages_rejected_total.
type RejectReason string

// Reasons a message is rejected.
const (
	RejectRateLimited RejectReason = "rate_limited"
	RejectTooBig      RejectReason = "too_big"
	RejectInvalidUTF8 RejectReason = "invalid_utf8"
	RejectBinary      RejectReason = "binary"
	// RejectUnavailable is a message the room's broker could not order
	// (NATS unreachable, or a room too contended): its sender is told.
	RejectUnavailable RejectReason = "unavailable"
)

// CommandLabel is the type label of chat_commands_total.
type CommandLabel string

// Commands counted, by type; every malformed or unknown one is "bad".
const (
	CommandMessage CommandLabel = protocol.CommandMessage
	CommandPing    CommandLabel = protocol.CommandPing
	CommandTyping  CommandLabel = protocol.CommandTyping
	CommandBad     CommandLabel = "bad"
)

// Metrics is the set of the server's collectors.
type Metrics struct {
	Connections        prometheus.Gauge
	ConnectionLimit    prometheus.Gauge
	ConnectionsOpened  prometheus.Counter
	ConnectionsClosed  *prometheus.CounterVec
	UpgradeFailures    *prometheus.CounterVec
	MessagesReceived   prometheus.Counter
	MessagesRejected   *prometheus.CounterVec
	MessagesDelivered  prometheus.Counter
	BroadcastDuration  prometheus.Histogram
	ReceivedBytes      prometheus.Counter
	SentBytes          prometheus.Counter
	Rooms              prometheus.Gauge
	OutboundQueueBytes prometheus.Gauge
	// OutboundCoalesce is the coalescing interval of package outbound,
	// set by its pacer; OutboundWrites counts its write system calls.
	OutboundCoalesce prometheus.Gauge
	OutboundWrites   prometheus.Counter
	Panics           prometheus.Counter
	Handshakes       prometheus.Gauge
	PageConnections  prometheus.Gauge
	PageRefused      prometheus.Counter
	HistoryBytes     prometheus.Gauge
	Commands         *prometheus.CounterVec

	// The broker's (see rooms.Broker); the in-process broker only counts
	// BrokerMessages and keeps BrokerConnected at 1.
	BrokerPublishDuration prometheus.Histogram
	BrokerMessages        prometheus.Counter
	BrokerGaps            prometheus.Counter
	BrokerConnected       prometheus.Gauge
	// Presence across nodes (cluster mode); the in-process broker keeps
	// BrokerNodes at 1.
	BrokerNodes           prometheus.Gauge
	BrokerPresenceResyncs prometheus.Counter
}

// New creates the collectors and registers them, together with the Go and
// process collectors, on reg. It panics if a name is already registered,
// like prometheus.MustRegister.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_connections", Help: "WebSocket connections currently open.",
		}),
		ConnectionLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_connection_limit", Help: "Most WebSocket connections the server accepts at once.",
		}),
		ConnectionsOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_connections_opened_total", Help: "WebSocket connections upgraded.",
		}),
		ConnectionsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_connections_closed_total", Help: "WebSocket connections closed, by reason.",
		}, []string{"reason"}),
		UpgradeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_upgrade_failures_total", Help: "WebSocket handshakes refused or failed, by reason.",
		}, []string{"reason"}),
		MessagesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_messages_received_total", Help: "Chat messages accepted from clients.",
		}),
		MessagesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_messages_rejected_total", Help: "Client messages refused, by reason.",
		}, []string{"reason"}),
		MessagesDelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_messages_delivered_total", Help: "Frames written to clients.",
		}),
		BroadcastDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chat_broadcast_duration_seconds",
			Help:    "Time from receiving a message to having queued it for every local member of its room.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12), // 1µs .. ~4.2s
		}),
		ReceivedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_received_bytes_total", Help: "Payload bytes of chat messages received from clients.",
		}),
		SentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_sent_bytes_total", Help: "Bytes of WebSocket frames written to clients.",
		}),
		Rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_rooms", Help: "Rooms that currently have members.",
		}),
		OutboundQueueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_outbound_queue_bytes", Help: "Bytes queued for clients and not yet written, over all connections.",
		}),
		OutboundCoalesce: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_outbound_coalesce_seconds",
			Help: "Least time between two writes to one client: 0 while every client is written as soon as a writer is free, clients/budget (capped) once the write rate reaches the write budget.",
		}),
		OutboundWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_outbound_writes_total", Help: "Write system calls to clients; frames delivered over writes is the frames per write.",
		}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_panics_total", Help: "Panics recovered while handling a connection; each closed that connection only.",
		}),
		Handshakes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_handshakes", Help: "Accepted connections whose request head is still being read.",
		}),
		PageConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_page_connections", Help: "Open HTTP connections of the page server (page, health, metrics).",
		}),
		PageRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_page_connections_refused_total", Help: "HTTP connections answered 503 because every page connection slot was busy.",
		}),
		HistoryBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_history_bytes", Help: "Bytes of messages kept for resume, over all rooms.",
		}),
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_commands_total", Help: "JSON commands from chat.v1 clients, by type (bad: unknown or malformed).",
		}, []string{"type"}),
		BrokerPublishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chat_broker_publish_duration_seconds",
			Help:    "Time from handing a message to the broker to its acknowledgement (NATS JetStream), retries included.",
			Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10), // 10µs .. ~2.6s
		}),
		BrokerMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_broker_messages_total", Help: "Messages the broker delivered to this node's rooms, kept ones included.",
		}),
		BrokerGaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_broker_gaps_total", Help: "Times a room's feed skipped messages it no longer had (expired while away): the room's history restarts after the gap, and resumes across it report gap.",
		}),
		BrokerConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_broker_connected", Help: "1 while the broker can order messages (connected to NATS), else 0.",
		}),
		BrokerNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_broker_nodes", Help: "Chat nodes this node hears alive (heartbeats), itself included.",
		}),
		BrokerPresenceResyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_broker_presence_resyncs_total", Help: "Rosters of a room asked again from another node: after a lost presence delta, a reconnect, or a node heard again.",
		}),
	}
	reg.MustRegister(
		m.Connections, m.ConnectionLimit, m.ConnectionsOpened, m.ConnectionsClosed,
		m.UpgradeFailures, m.MessagesReceived, m.MessagesRejected, m.MessagesDelivered,
		m.BroadcastDuration, m.ReceivedBytes, m.SentBytes, m.Rooms, m.OutboundQueueBytes,
		m.OutboundCoalesce, m.OutboundWrites, m.Panics,
		m.Handshakes, m.PageConnections, m.PageRefused, m.HistoryBytes, m.Commands,
		m.BrokerPublishDuration, m.BrokerMessages, m.BrokerGaps, m.BrokerConnected,
		m.BrokerNodes, m.BrokerPresenceResyncs,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Start every labelled series at zero so that rates and dashboards see
	// them before the first event.
	for _, c := range protocol.Closes {
		m.ConnectionsClosed.WithLabelValues(c.Label)
	}
	for _, r := range UpgradeFailures {
		m.UpgradeFailures.WithLabelValues(string(r))
	}
	for _, r := range []RejectReason{RejectRateLimited, RejectTooBig, RejectInvalidUTF8, RejectBinary, RejectUnavailable} {
		m.MessagesRejected.WithLabelValues(string(r))
	}
	for _, c := range []CommandLabel{CommandMessage, CommandPing, CommandTyping, CommandBad} {
		m.Commands.WithLabelValues(string(c))
	}
	return m
}
