package dashboard

// ContractMetrics returns the metric names the dashboard may read: the
// server's and the load generator's metrics contract (DESIGN.md) and the
// series of the standard Go and process collectors that it charts.
// Histograms are listed by their base name.
func ContractMetrics() []string {
	return []string{
		// Server.
		"chat_connections",
		"chat_connections_opened_total",
		"chat_connections_closed_total",
		"chat_upgrade_failures_total",
		"chat_messages_received_total",
		"chat_messages_rejected_total",
		"chat_messages_delivered_total",
		"chat_broadcast_duration_seconds",
		"chat_received_bytes_total",
		"chat_sent_bytes_total",
		"chat_rooms",
		"chat_connection_limit",
		"chat_outbound_queue_bytes",
		"chat_panics_total",
		"chat_broker_connected",
		"chat_broker_publish_duration_seconds",
		"chat_broker_messages_total",
		"chat_broker_gaps_total",
		// Load generator.
		"loadgen_clients_connected",
		"loadgen_connects_total",
		"loadgen_messages_sent_total",
		"loadgen_messages_received_total",
		"loadgen_messages_lost_total",
		"loadgen_latency_seconds",
		"loadgen_connect_duration_seconds",
		"loadgen_errors_total",
		"loadgen_disconnects_total",
		"loadgen_reconnects_total",
		// Go and process collectors.
		"process_cpu_seconds_total",
		"process_resident_memory_bytes",
		"process_open_fds",
		"process_max_fds",
		"go_goroutines",
		"go_gc_duration_seconds",
	}
}
