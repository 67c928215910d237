package loadgen

import (
	"maps"
	"slices"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the loadgen_ metrics from snapshots taken at scrape
// time, so the engine keeps one set of counters for progress, summary and
// metrics alike.
type collector struct {
	snapshot func() Snapshot

	connected, connects, sent, received, lost, latency, connect, errors *prometheus.Desc
	disconnects, reconnects                                             *prometheus.Desc
}

// latencyBuckets and connectBuckets are the upper bounds, in seconds, of
// the exported histograms (the HDR histograms behind them are finer).
var (
	latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	connectBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

func newCollector(snapshot func() Snapshot) *collector {
	return &collector{
		snapshot:    snapshot,
		connected:   prometheus.NewDesc("loadgen_clients_connected", "Simulated clients connected now.", nil, nil),
		disconnects: prometheus.NewDesc("loadgen_disconnects_total", "Connections lost while their client meant to stay (server closes, resets, hang-ups).", nil, nil),
		reconnects:  prometheus.NewDesc("loadgen_reconnects_total", "Reconnections of clients that had lost or left their connection.", nil, nil),
		connects:    prometheus.NewDesc("loadgen_connects_total", "WebSocket connections established, reconnects included.", nil, nil),
		sent:        prometheus.NewDesc("loadgen_messages_sent_total", "Chat messages sent by simulated senders.", nil, nil),
		received:    prometheus.NewDesc("loadgen_messages_received_total", "Load generator messages received by simulated clients, duplicates included.", nil, nil),
		lost:        prometheus.NewDesc("loadgen_messages_lost_total", "Expected deliveries that never arrived; set when the run has settled.", nil, nil),
		latency:     prometheus.NewDesc("loadgen_latency_seconds", "End-to-end latency from send to receipt.", nil, nil),
		connect:     prometheus.NewDesc("loadgen_connect_duration_seconds", "TCP connect plus WebSocket handshake.", nil, nil),
		errors:      prometheus.NewDesc("loadgen_errors_total", "Errors by kind (refused, handshake_<status>, closed_<code>, timeouts, ...).", []string{"kind"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.connects, c.sent, c.received, c.lost, c.latency, c.connect, c.errors, c.disconnects, c.reconnects} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, float64(s.Connected))
	ch <- prometheus.MustNewConstMetric(c.connects, prometheus.CounterValue, float64(s.Connects))
	ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(s.Received))
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(s.Lost))
	ch <- prometheus.MustNewConstMetric(c.disconnects, prometheus.CounterValue, float64(s.Disconnects))
	ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(s.Reconnects))
	ch <- constHistogram(c.latency, s.Latency, latencyBuckets)
	ch <- constHistogram(c.connect, s.Connect, connectBuckets)
	// Every fixed kind has a series from the first scrape, at zero until
	// it happens, so that rates and alerts see a healthy run as 0, not as
	// no data.
	for _, k := range ErrorKinds {
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(s.Errors[k]), k)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
		if !slices.Contains(ErrorKinds, k) {
			ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(s.Errors[k]), k)
		}
	}
}

// constHistogram converts an HDR histogram of microseconds into a
// Prometheus histogram with the given bounds in seconds.
func constHistogram(d *prometheus.Desc, h *hdrhistogram.Histogram, bounds []float64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var count uint64
	var sum float64
	if h != nil {
		for _, bar := range h.Distribution() {
			if bar.Count == 0 {
				continue
			}
			secs := float64(bar.To) / 1e6
			count += uint64(bar.Count)
			sum += secs * float64(bar.Count)
			for _, b := range bounds {
				if secs <= b {
					buckets[b] += uint64(bar.Count)
				}
			}
		}
	}
	for _, b := range bounds {
		if _, ok := buckets[b]; !ok {
			buckets[b] = 0
		}
	}
	return prometheus.MustNewConstHistogram(d, count, sum, buckets)
}
