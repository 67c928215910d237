// Package metrics holds the chat server's Prometheus collectors in one
// struct, registered on an injected prometheus.Registerer. The names are a
// contract shared with the Grafana dashboard and the tests; no label
// carries a room, a client id or any other unbounded value.
//
// Usage:
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg)
//	m.ConnectionsClosed.WithLabelValues(string(metrics.CloseSlowConsumer)).Inc()
package metrics
