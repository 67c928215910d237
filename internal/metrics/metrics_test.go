package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chatplatform/chat/internal/protocol"
)

func TestRegistersCleanly(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ConnectionsClosed.WithLabelValues(protocol.CloseSlowConsumer.Label).Inc()
	m.BroadcastDuration.Observe(0.001)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if got := testutil.ToFloat64(m.ConnectionsClosed.WithLabelValues(protocol.CloseSlowConsumer.Label)); got != 1 {
		t.Fatalf("slow_consumer closes = %v, want 1", got)
	}
	for _, name := range []string{"chat_connections", "chat_connections_opened_total", "chat_connections_closed_total",
		"chat_upgrade_failures_total", "chat_messages_received_total", "chat_messages_rejected_total",
		"chat_messages_delivered_total", "chat_broadcast_duration_seconds", "chat_received_bytes_total",
		"chat_sent_bytes_total", "chat_rooms", "chat_outbound_coalesce_seconds", "chat_outbound_writes_total", "go_goroutines", "process_resident_memory_bytes"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series, err %v", name, n, err)
		}
	}
}
