package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Names of the provisioned objects the dashboard refers to. The Grafana
// provisioning files in grafana/provisioning use the same values.
const (
	// DatasourceUID is the uid of the provisioned Prometheus data source and
	// the default of the datasource variable.
	DatasourceUID = "prometheus"
	// UID is the dashboard's uid; its URL is /d/chat-overview.
	UID = "chat-overview"
)

// matchers are the job and instance matchers every selector carries, so
// the job and instance variables filter every panel.
const matchers = `job=~"$job", instance=~"$instance"`

// sel returns the selector for metric restricted to the selected job and
// instance, plus any extra matchers.
func sel(metric string, extra ...string) string {
	return metric + "{" + strings.Join(append([]string{matchers}, extra...), ", ") + "}"
}

// rate returns the per-second rate of a counter over $__rate_interval.
func rate(metric string, extra ...string) string {
	return "rate(" + sel(metric, extra...) + "[$__rate_interval])"
}

// quantile returns the q-quantile of histogram metric (its base name),
// per value of by.
func quantile(q, metric, by string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (le, %s) (%s))", q, by, rate(metric+"_bucket"))
}

// jobQuery lists the jobs that export the platform's metrics, so that "All"
// in a shared Prometheus does not pull other jobs into the panels.
const jobQuery = `label_values({__name__=~"chat_connections|loadgen_clients_connected"}, job)`

// errorCloseReasons are the close reasons that mean something went wrong
// (a client broke a rule, could not keep up, or the server failed).
const errorCloseReasons = "protocol_error|invalid_utf8|binary|too_big|rate_limited|slow_consumer|write_error|panic"

// query is one target of a panel.
type query struct {
	expr, legend string
}

// panelSpec is a compact description of one visualisation.
type panelSpec struct {
	kind        string // "stat" or "timeseries"
	title       string
	description string
	unit        string
	width       int
	queries     []query
}

// rowSpec is a row with its panels.
type rowSpec struct {
	title  string
	panels []panelSpec
}

// layout is the content of the chat dashboard, row by row.
var layout = []rowSpec{
	{"Overview", []panelSpec{
		{"stat", "Connections now", "Open WebSocket connections summed over the selected instances (chat_connections).", "short", 4,
			[]query{{"sum(" + sel("chat_connections") + ")", "connections"}}},
		{"stat", "Rooms now", "Rooms with at least one member, summed over the selected instances (chat_rooms).", "short", 4,
			[]query{{"sum(" + sel("chat_rooms") + ")", "rooms"}}},
		{"stat", "Messages in per second", "Chat messages accepted from clients per second, all selected instances (chat_messages_received_total).", "cps", 4,
			[]query{{"sum(" + rate("chat_messages_received_total") + ")", "messages in"}}},
		{"stat", "Deliveries out per second", "Frames written to clients per second, all selected instances (chat_messages_delivered_total).", "cps", 4,
			[]query{{"sum(" + rate("chat_messages_delivered_total") + ")", "deliveries out"}}},
		{"stat", "Broadcast p99", "99th percentile of the time from receiving a message to having it queued for every member of its room, over all selected instances (chat_broadcast_duration_seconds).", "s", 4,
			[]query{{"histogram_quantile(0.99, sum by (le) (" + rate("chat_broadcast_duration_seconds_bucket") + "))", "p99"}}},
		{"stat", "Errors per second", "Refused upgrades, rejected messages and connections closed for an error (" + errorCloseReasons + ") per second, all selected instances. 0 on a healthy server: every reason is exported from the start.", "cps", 4,
			[]query{{"sum(" + rate("chat_upgrade_failures_total") + ") + sum(" + rate("chat_messages_rejected_total") + ") + sum(" +
				rate("chat_connections_closed_total", `reason=~"`+errorCloseReasons+`"`) + ")", "errors"}}},
	}},
	{"Traffic", []panelSpec{
		{"timeseries", "Connections", "Open connections per instance and in total, against each instance's connection cap (chat_connections, chat_connection_limit).", "short", 12,
			[]query{
				{sel("chat_connections"), "{{instance}}"},
				{"sum(" + sel("chat_connections") + ")", "total"},
				{sel("chat_connection_limit"), "limit {{instance}}"},
			}},
		{"timeseries", "Connects and disconnects per second", "Connections opened per second per instance, and closed per second by close reason (normal, shutdown, too_big, slow_consumer, idle_timeout, ...).", "cps", 12,
			[]query{
				{"sum by (instance) (" + rate("chat_connections_opened_total") + ")", "opened {{instance}}"},
				{"sum by (reason) (" + rate("chat_connections_closed_total") + ")", "closed: {{reason}}"},
			}},
		{"timeseries", "Messages in per second", "Chat messages accepted from clients per second, per instance (chat_messages_received_total). Rejected messages are not counted here.", "cps", 8,
			[]query{{"sum by (instance) (" + rate("chat_messages_received_total") + ")", "{{instance}}"}}},
		{"timeseries", "Deliveries out per second", "Frames written to clients per second, per instance: messages, join and leave notices, welcomes and errors (chat_messages_delivered_total).", "cps", 8,
			[]query{{"sum by (instance) (" + rate("chat_messages_delivered_total") + ")", "{{instance}}"}}},
		{"timeseries", "Fan-out ratio", "Frames delivered per message received: about the average room size while messages dominate. No value while no message arrives (the division is guarded against zero).", "short", 8,
			[]query{{"sum by (instance) (" + rate("chat_messages_delivered_total") + ") / sum by (instance) (" + rate("chat_messages_received_total") + " > 0)", "{{instance}}"}}},
		{"timeseries", "Bytes per second", "WebSocket bytes read from and written to clients per second, per instance (chat_received_bytes_total, chat_sent_bytes_total).", "Bps", 12,
			[]query{
				{"sum by (instance) (" + rate("chat_received_bytes_total") + ")", "in {{instance}}"},
				{"sum by (instance) (" + rate("chat_sent_bytes_total") + ")", "out {{instance}}"},
			}},
		{"timeseries", "Outbound queue bytes", "Bytes waiting in the per-connection outbound queues, summed per instance (chat_outbound_queue_bytes). Steady growth means clients are not keeping up.", "bytes", 12,
			[]query{{sel("chat_outbound_queue_bytes"), "{{instance}}"}}},
	}},
	{"Latency", []panelSpec{
		{"timeseries", "Broadcast duration p50 and p99", "Time from receiving a message to having it queued for every local member of its room (chat_broadcast_duration_seconds).", "s", 8,
			[]query{
				{quantile("0.5", "chat_broadcast_duration_seconds", "instance"), "p50 {{instance}}"},
				{quantile("0.99", "chat_broadcast_duration_seconds", "instance"), "p99 {{instance}}"},
			}},
		{"timeseries", "End-to-end latency p50 and p99", "Time from a load generator client sending a message to another client receiving it, measured by the load generator (loadgen_latency_seconds).", "s", 8,
			[]query{
				{quantile("0.5", "loadgen_latency_seconds", "instance"), "p50 {{instance}}"},
				{quantile("0.99", "loadgen_latency_seconds", "instance"), "p99 {{instance}}"},
			}},
		{"timeseries", "Connect duration p50 and p99", "Time for a load generator client to open a connection and complete the WebSocket handshake (loadgen_connect_duration_seconds).", "s", 8,
			[]query{
				{quantile("0.5", "loadgen_connect_duration_seconds", "instance"), "p50 {{instance}}"},
				{quantile("0.99", "loadgen_connect_duration_seconds", "instance"), "p99 {{instance}}"},
			}},
	}},
	{"Errors", []panelSpec{
		{"timeseries", "Rejected messages by reason", "Client messages refused per second by reason: rate_limited, too_big, invalid_utf8, binary (chat_messages_rejected_total).", "cps", 8,
			[]query{{"sum by (reason) (" + rate("chat_messages_rejected_total") + ")", "{{reason}}"}}},
		{"timeseries", "Upgrade failures by reason", "WebSocket upgrades refused per second by reason, e.g. bad_client_id, bad_room, forbidden_origin, server_full, handshake_timeout, draining (chat_upgrade_failures_total; the README lists every reason).", "cps", 8,
			[]query{{"sum by (reason) (" + rate("chat_upgrade_failures_total") + ")", "{{reason}}"}}},
		{"timeseries", "Slow-consumer and idle closes", "Connections closed per second because their outbound queue overflowed (slow_consumer) or they stayed silent past the idle timeout (idle_timeout).", "cps", 8,
			[]query{{"sum by (reason) (" + rate("chat_connections_closed_total", `reason=~"slow_consumer|idle_timeout"`) + ")", "{{reason}}"}}},
		{"timeseries", "Load generator errors by kind", "Errors seen by the load generator per second, by kind (loadgen_errors_total). Every fixed kind is exported at 0 from the start, so a healthy run shows flat zero lines, not No data.", "cps", 8,
			[]query{{"sum by (kind) (" + rate("loadgen_errors_total") + ")", "{{kind}}"}}},
		{"timeseries", "Panics recovered", "Panics recovered while handling a connection, per instance, over the rate interval (chat_panics_total): each closed one connection with 1011. Anything above 0 is a bug.", "short", 8,
			[]query{{"sum by (instance) (increase(" + sel("chat_panics_total") + "[$__rate_interval]))", "{{instance}}"}}},
		{"timeseries", "Messages lost per second", "Messages the load generator expected but never received, per second (loadgen_messages_lost_total).", "cps", 8,
			[]query{{"sum by (instance) (" + rate("loadgen_messages_lost_total") + ")", "{{instance}}"}}},
	}},
	{"Cluster", []panelSpec{
		{"timeseries", "NATS connection", "1 while a node's broker is connected to NATS and has its stream, 0 while it is not (chat_broker_connected): its /readyz is 503 then and its clients' messages are refused. A single process shows 1.", "short", 8,
			[]query{{sel("chat_broker_connected"), "{{instance}}"}}},
		{"timeseries", "Broker publish p50 and p99", "Time from a message handed to NATS JetStream to its acknowledgement, retries after a lost race for the room's next seq included (chat_broker_publish_duration_seconds). Cluster mode only.", "s", 8,
			[]query{
				{quantile("0.5", "chat_broker_publish_duration_seconds", "instance"), "p50 {{instance}}"},
				{quantile("0.99", "chat_broker_publish_duration_seconds", "instance"), "p99 {{instance}}"},
			}},
		{"timeseries", "Messages from the broker per second", "Messages the broker delivered to each node's rooms per second, every node's included and kept ones replayed when a room opens (chat_broker_messages_total).", "cps", 8,
			[]query{{"sum by (instance) (" + rate("chat_broker_messages_total") + ")", "{{instance}}"}}},
		{"timeseries", "Gaps recovered", "Times a room's feed skipped messages it no longer had (expired while the node was away from NATS), per node over the rate interval (chat_broker_gaps_total): the room's history starts again after the gap and resumes across it are told gap.", "short", 8,
			[]query{{"sum by (instance) (increase(" + sel("chat_broker_gaps_total") + "[$__rate_interval]))", "{{instance}}"}}},
		{"timeseries", "Rejected: broker unavailable", "Client messages refused per second because the node could not have them ordered (NATS lost, a room's queue full, a room too contended): chat_messages_rejected_total{reason=\"unavailable\"}. The sender gets an error event.", "cps", 8,
			[]query{{"sum by (instance) (" + rate("chat_messages_rejected_total", `reason="unavailable"`) + ")", "{{instance}}"}}},
		{"timeseries", "Connections per node", "Open WebSocket connections on each node (chat_connections): after a node dies its clients move to the others.", "short", 8,
			[]query{{"sum by (instance) (" + sel("chat_connections") + ")", "{{instance}}"}}},
	}},
	{"Resources", []panelSpec{
		{"timeseries", "CPU usage", "CPU time used per second of wall time by each process; 100% is one full core (process_cpu_seconds_total).", "percentunit", 6,
			[]query{{rate("process_cpu_seconds_total"), "{{job}} {{instance}}"}}},
		{"timeseries", "Resident memory", "Resident set size of each process (process_resident_memory_bytes).", "bytes", 6,
			[]query{{sel("process_resident_memory_bytes"), "{{job}} {{instance}}"}}},
		{"timeseries", "Memory per connection", "What each connection adds to a server's resident memory: its growth since its lowest point in the dashboard's time range, divided by the growth of connections since theirs. With a range that starts idle this is the README's figure (RSS with N connections minus RSS before, divided by N); the whole RSS divided by the connections would count the process's fixed cost too. No value while connections have not grown in the range.", "bytes", 6,
			[]query{{"(" + sel("process_resident_memory_bytes") + " - min_over_time(" + sel("process_resident_memory_bytes") + "[$__range]))" +
				" / on (job, instance) ((" + sel("chat_connections") + " - min_over_time(" + sel("chat_connections") + "[$__range])) > 0)", "{{instance}}"}}},
		{"timeseries", "Goroutines", "Goroutines in each process (go_goroutines). With epoll an idle connection needs no goroutine, so this stays flat as connections grow.", "short", 6,
			[]query{{sel("go_goroutines"), "{{job}} {{instance}}"}}},
		{"timeseries", "GC pause", "Median and longest stop-the-world garbage collection pause over recent cycles, per process (go_gc_duration_seconds).", "s", 12,
			[]query{
				{sel("go_gc_duration_seconds", `quantile="0.5"`), "p50 {{job}} {{instance}}"},
				{sel("go_gc_duration_seconds", `quantile="1"`), "max {{job}} {{instance}}"},
			}},
		{"timeseries", "Open file descriptors", "File descriptors open in each process against its limit; each connection holds one (process_open_fds, process_max_fds).", "short", 12,
			[]query{
				{sel("process_open_fds"), "open {{job}} {{instance}}"},
				{sel("process_max_fds"), "limit {{job}} {{instance}}"},
			}},
	}},
	{"Load generator", []panelSpec{
		{"timeseries", "Load generator clients connected", "Simulated clients currently connected, per load generator (loadgen_clients_connected).", "short", 12,
			[]query{{sel("loadgen_clients_connected"), "{{instance}}"}}},
		{"timeseries", "Load generator connects per second", "Connections the load generator opened per second (loadgen_connects_total).", "cps", 12,
			[]query{{"sum by (instance) (" + rate("loadgen_connects_total") + ")", "{{instance}}"}}},
		{"timeseries", "Load generator lost connections and reconnects", "Connections the load generator lost per second while its clients meant to stay (server closes, resets, hang-ups), and reconnections per second (loadgen_disconnects_total, loadgen_reconnects_total).", "cps", 12,
			[]query{
				{"sum by (instance) (" + rate("loadgen_disconnects_total") + ")", "lost {{instance}}"},
				{"sum by (instance) (" + rate("loadgen_reconnects_total") + ")", "reconnects {{instance}}"},
			}},
		{"timeseries", "Load generator messages per second", "Messages the load generator sent and received per second; received exceeds sent by the fan-out (loadgen_messages_sent_total, loadgen_messages_received_total).", "cps", 12,
			[]query{
				{"sum by (instance) (" + rate("loadgen_messages_sent_total") + ")", "sent {{instance}}"},
				{"sum by (instance) (" + rate("loadgen_messages_received_total") + ")", "received {{instance}}"},
			}},
	}},
}

// Panel heights on the 24-column grid.
const (
	rowHeight   = 1
	statHeight  = 4
	graphHeight = 8
	gridWidth   = 24
)

var (
	statOptions  = json.RawMessage(`{"colorMode":"value","graphMode":"area","justifyMode":"auto","orientation":"auto","reduceOptions":{"calcs":["lastNotNull"],"fields":"","values":false},"textMode":"auto"}`)
	graphOptions = json.RawMessage(`{"legend":{"calcs":[],"displayMode":"list","placement":"bottom","showLegend":true},"tooltip":{"mode":"multi","sort":"desc"}}`)
)

// Chat builds the chat platform dashboard: an overview row of stats, then
// rows for traffic, latency, errors, the cluster, resources and the load
// generator, filtered by the datasource, job and instance variables.
func Chat() *Dashboard {
	ds := &Datasource{Type: "prometheus", UID: "${datasource}"}
	zero := 0.0
	d := &Dashboard{
		UID:           UID,
		Title:         "Chat platform",
		Description:   "Traffic, latency, errors and resource use of the chat server, and what the load generator measures.",
		Tags:          []string{"chat", "websocket"},
		Editable:      true,
		GraphTooltip:  1,
		Refresh:       "10s",
		SchemaVersion: 39,
		Version:       1,
		Timezone:      "browser",
		Time:          TimeRange{From: "now-30m", To: "now"},
		Annotations:   Annotations{List: []json.RawMessage{}},
		Templating: Templating{List: []Variable{
			{
				Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus",
				Description: "Prometheus data source scraping the chat server and the load generator.",
				Refresh:     1,
				Current:     Current{Text: "Prometheus", Value: DatasourceUID},
				Options:     []Current{},
			},
			labelVariable("job", "Job", jobQuery, ds,
				"Scrape jobs of the platform: those exporting the chat server's or the load generator's metrics (chat and loadgen in grafana/prometheus.yml), whatever they are called; other jobs of a shared Prometheus are left out."),
			labelVariable("instance", "Instance", `label_values(up{job=~"$job"}, instance)`, ds,
				"Scraped instances (host:port) of the selected jobs."),
		}},
	}
	id, y := 1, 0
	for _, row := range layout {
		collapsed := false
		d.Panels = append(d.Panels, Panel{ID: id, Type: "row", Title: row.title, Collapsed: &collapsed,
			GridPos: GridPos{H: rowHeight, W: gridWidth, X: 0, Y: y}, Panels: []Panel{}})
		id++
		y += rowHeight
		x, lineHeight := 0, 0
		for _, s := range row.panels {
			h := graphHeight
			opts := graphOptions
			if s.kind == "stat" {
				h, opts = statHeight, statOptions
			}
			if x+s.width > gridWidth {
				x, y, lineHeight = 0, y+lineHeight, 0
			}
			p := Panel{
				ID: id, Type: s.kind, Title: s.title, Description: s.description,
				GridPos:     GridPos{H: h, W: s.width, X: x, Y: y},
				Datasource:  ds,
				FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: s.unit, Min: &zero}, Overrides: []json.RawMessage{}},
				Options:     opts,
			}
			for i, q := range s.queries {
				p.Targets = append(p.Targets, Target{
					RefID: string(rune('A' + i)), Datasource: ds, Expr: q.expr, LegendFormat: q.legend,
					Range: true,
				})
			}
			d.Panels = append(d.Panels, p)
			id++
			x += s.width
			lineHeight = max(lineHeight, h)
		}
		y += lineHeight
	}
	return d
}

// labelVariable returns a multi-value query variable listing the values of a
// label, with "All" selected by default.
func labelVariable(name, label, query string, ds *Datasource, description string) Variable {
	return Variable{
		Name: name, Label: label, Description: description, Type: "query", Datasource: ds,
		Query: query, Definition: query,
		Refresh:    2, // on time range change
		Multi:      true,
		IncludeAll: true,
		AllValue:   ".+",
		Sort:       1,
		Current:    Current{Text: []string{"All"}, Value: []string{"$__all"}},
		Options:    []Current{},
	}
}
