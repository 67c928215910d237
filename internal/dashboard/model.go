package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Dashboard is the subset of the Grafana dashboard JSON model that this
// package writes and checks. Field order follows Grafana's own export so the
// committed file reads like one exported from the UI.
type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Refresh       string      `json:"refresh"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Timezone      string      `json:"timezone"`
	Time          TimeRange   `json:"time"`
	Templating    Templating  `json:"templating"`
	Annotations   Annotations `json:"annotations"`
	Panels        []Panel     `json:"panels"`
}

// TimeRange is the dashboard's default time range, e.g. now-30m to now.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the dashboard's template variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Annotations holds the dashboard's annotation queries; this dashboard has none.
type Annotations struct {
	List []json.RawMessage `json:"list"`
}

// Variable is one template variable: the data source picker ("datasource")
// or a Prometheus label query ("query").
type Variable struct {
	Name        string      `json:"name"`
	Label       string      `json:"label"`
	Description string      `json:"description,omitempty"`
	Type        string      `json:"type"`
	Datasource  *Datasource `json:"datasource,omitempty"`
	Query       string      `json:"query"`
	Definition  string      `json:"definition,omitempty"`
	Regex       string      `json:"regex"`
	Refresh     int         `json:"refresh"`
	Multi       bool        `json:"multi"`
	IncludeAll  bool        `json:"includeAll"`
	AllValue    string      `json:"allValue,omitempty"`
	Sort        int         `json:"sort,omitempty"`
	Hide        int         `json:"hide"`
	Current     Current     `json:"current"`
	Options     []Current   `json:"options"`
}

// Current is a variable's selected value. Text and Value are a string or a
// list of strings, as in Grafana's model.
type Current struct {
	Selected bool `json:"selected"`
	Text     any  `json:"text"`
	Value    any  `json:"value"`
}

// Datasource references a data source by type and uid; the uid may be a
// variable such as ${datasource}.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a row or a visualisation. Rows carry no targets; collapsed rows
// keep their panels in Panels.
type Panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description,omitempty"`
	Collapsed   *bool           `json:"collapsed,omitempty"`
	GridPos     GridPos         `json:"gridPos"`
	Datasource  *Datasource     `json:"datasource,omitempty"`
	FieldConfig *FieldConfig    `json:"fieldConfig,omitempty"`
	Options     json.RawMessage `json:"options,omitempty"`
	Targets     []Target        `json:"targets,omitempty"`
	Panels      []Panel         `json:"panels,omitempty"`
}

// GridPos places a panel on the dashboard's 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// FieldConfig holds a panel's field defaults (unit, minimum) and overrides.
type FieldConfig struct {
	Defaults  FieldDefaults     `json:"defaults"`
	Overrides []json.RawMessage `json:"overrides"`
}

// FieldDefaults are the field settings every series of a panel inherits.
type FieldDefaults struct {
	Unit     string          `json:"unit"`
	Min      *float64        `json:"min,omitempty"`
	Decimals *int            `json:"decimals,omitempty"`
	Custom   json.RawMessage `json:"custom,omitempty"`
}

// Target is one PromQL query of a panel.
type Target struct {
	RefID        string      `json:"refId"`
	Datasource   *Datasource `json:"datasource,omitempty"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Range        bool        `json:"range"`
	Instant      bool        `json:"instant"`
}

// Parse decodes a dashboard from Grafana JSON, rejecting unknown fields so
// that the checks never silently miss a part of the file.
func Parse(data []byte) (*Dashboard, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Dashboard
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("decode dashboard: %w", err)
	}
	return &d, nil
}

// Marshal encodes d as indented JSON with a trailing newline, the form of the
// committed file.
func Marshal(d *Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode dashboard: %w", err)
	}
	return buf.Bytes(), nil
}

// Visualisations returns every panel that is not a row, including those
// inside collapsed rows, in dashboard order.
func (d *Dashboard) Visualisations() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}
