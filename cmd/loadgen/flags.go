package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
)

// durationFlag is a flag.Value for a duration whose parse error says what
// to type ("30" asks for a unit, e.g. "30s").
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := loadgen.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// percentFlag is a flag.Value for a percentage, with or without the
// percent sign: "5" and "5%" are both five percent.
type percentFlag struct{ p *float64 }

func (f percentFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64) + "%"
}

func (f percentFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return fmt.Errorf("%q is not a percentage from 0 to 100 (write 5 or 5%%)", s)
	}
	*f.p = v
	return nil
}

// listFlag is a flag.Value collecting values given several times or as a
// comma-separated list (-url a -url b, or -url a,b).
type listFlag struct{ list *[]string }

func (f listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*f.list = append(*f.list, v)
		}
	}
	return nil
}

// parseCount parses "N" or "P%" (of total), for -min-connected.
func parseCount(s string, total int) (int, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 {
			return 0, fmt.Errorf("%q is not a percentage from 0%% to 100%%", s)
		}
		return int(float64(total)*f/100 + 0.999999), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is neither a count nor a percentage (write 950 or 95%%)", s)
	}
	if n > total {
		return 0, fmt.Errorf("%d is more than -clients %d", n, total)
	}
	return n, nil
}

// parseRates parses -room-rates: comma-separated messages per second.
func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q is not a rate (messages per second per sender, 0 or more), e.g. -room-rates 10,1,0", f)
		}
		out = append(out, v)
	}
	return out, nil
}
