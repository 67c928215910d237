package loadgen

import "slices"

// Settings records the configuration of a run in its summary, so that a
// result file says what was measured.
type Settings struct {
	URLs        []string  `json:"urls"`
	Clients     int       `json:"clients"`
	Ramp        float64   `json:"ramp_per_s,omitempty"` // not used with stages
	Stages      []string  `json:"stages,omitempty"`     // as -stages spells them, e.g. "30s:1000"
	Room        string    `json:"room"`
	Rooms       int       `json:"rooms"`
	Senders     int       `json:"senders"`
	Rate        float64   `json:"rate_per_s"`
	RoomRates   []float64 `json:"room_rates,omitempty"`
	Size        int       `json:"size_bytes"`
	Duration    float64   `json:"duration_s"` // sending time: Duration, or the stages' length
	Settle      float64   `json:"settle_s"`
	Churn       float64   `json:"churn_per_s"`
	ChurnMode   string    `json:"churn_mode"`
	Reconnect   bool      `json:"reconnect"`
	Backoff     float64   `json:"backoff_s"`
	DialTimeout float64   `json:"dial_timeout_s"`
	SourceIPs   []string  `json:"source_ips,omitempty"`
	Tokens      bool      `json:"tokens"` // clients sent tokens minted from Config.TokenSecretFile
}

// settingsOf describes cfg, defaults filled.
func settingsOf(cfg Config) Settings {
	s := Settings{
		URLs:        slices.Clone(cfg.URLs),
		Clients:     cfg.Clients,
		Room:        cfg.Room,
		Rooms:       cfg.Rooms,
		Senders:     cfg.Senders,
		Rate:        cfg.Rate,
		RoomRates:   slices.Clone(cfg.RoomRates),
		Size:        cfg.Size,
		Settle:      cfg.Settle.Seconds(),
		Churn:       cfg.Churn,
		ChurnMode:   cfg.ChurnMode,
		Reconnect:   cfg.Reconnect,
		Backoff:     cfg.Backoff.Seconds(),
		DialTimeout: cfg.DialTimeout.Seconds(),
		SourceIPs:   slices.Clone(cfg.SourceIPs),
		Tokens:      cfg.TokenSecretFile != "",
	}
	if len(cfg.Stages) > 0 {
		for _, st := range cfg.Stages {
			s.Stages = append(s.Stages, st.String())
		}
		s.Duration = stagesDuration(cfg.Stages).Seconds()
	} else {
		s.Ramp = cfg.Ramp
		s.Duration = cfg.Duration.Seconds()
	}
	return s
}
