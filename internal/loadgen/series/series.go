package series

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chatplatform/chat/internal/loadgen"
)

// Row is one line of the -out file: one progress interval. Its JSON names
// are also the CSV header.
type Row struct {
	T              float64 `json:"t_s"` // end of the interval, seconds since the start
	Phase          string  `json:"phase"`
	Target         int64   `json:"target"`
	Connected      int64   `json:"connected"`
	ConnectsPerSec float64 `json:"connects_per_s"`
	Disconnects    int64   `json:"disconnects"`
	Reconnects     int64   `json:"reconnects"`
	SentPerSec     float64 `json:"sent_per_s"`
	ReceivedPerSec float64 `json:"received_per_s"`
	Holes          int64   `json:"holes"`
	LossPercent    float64 `json:"loss_percent"`
	LatencyCount   int64   `json:"latency_count"`
	P50            float64 `json:"p50_ms"`
	P99            float64 `json:"p99_ms"`
	Max            float64 `json:"max_ms"`
	Errors         int64   `json:"errors"`
}

// Header lists the columns of the CSV form, in Row's order.
var Header = []string{"t_s", "phase", "target", "connected", "connects_per_s", "disconnects", "reconnects", "sent_per_s", "received_per_s", "holes", "loss_percent", "latency_count", "p50_ms", "p99_ms", "max_ms", "errors"}

// RowOf turns a progress interval into a row.
func RowOf(iv loadgen.Interval) Row {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Row{
		T: iv.Elapsed.Seconds(), Phase: string(iv.Phase), Target: iv.Target, Connected: iv.Connected,
		ConnectsPerSec: iv.ConnectsPerSec, Disconnects: iv.Disconnects, Reconnects: iv.Reconnects,
		SentPerSec: iv.SentPerSec, ReceivedPerSec: iv.ReceivedPerSec, Holes: iv.Holes, LossPercent: iv.LossPercent,
		LatencyCount: iv.LatencyCount, P50: ms(iv.P50), P99: ms(iv.P99), Max: ms(iv.Max), Errors: iv.Errors,
	}
}

func (r Row) csv() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return []string{f(r.T), r.Phase, i(r.Target), i(r.Connected), f(r.ConnectsPerSec), i(r.Disconnects), i(r.Reconnects),
		f(r.SentPerSec), f(r.ReceivedPerSec), i(r.Holes), f(r.LossPercent), i(r.LatencyCount), f(r.P50), f(r.P99), f(r.Max), i(r.Errors)}
}

// Writer writes the -out file: CSV when its name ends in .csv, JSON
// lines otherwise. Rows are flushed one by one, so the file can be
// followed while the run goes on.
type Writer struct {
	f   *os.File
	buf *bufio.Writer
	csv *csv.Writer // nil for JSON lines
}

// Create creates (or truncates) the file at path for rows: CSV when its
// name ends in .csv, JSON lines otherwise.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, buf: bufio.NewWriter(f)}
	if strings.HasSuffix(strings.ToLower(path), ".csv") {
		w.csv = csv.NewWriter(w.buf)
		if err := w.csv.Write(Header); err != nil {
			f.Close()
			return nil, err
		}
	}
	return w, nil
}

// Write appends one row and flushes it to the file.
func (w *Writer) Write(r Row) error {
	if w.csv != nil {
		if err := w.csv.Write(r.csv()); err != nil {
			return err
		}
		w.csv.Flush()
		if err := w.csv.Error(); err != nil {
			return err
		}
	} else {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, err := w.buf.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return w.buf.Flush()
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	if err := w.buf.Flush(); err != nil {
		w.f.Close()
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	return w.f.Close()
}

// Read reads the rows of a file Writer wrote, from r: CSV with a header
// line when csvForm, JSON lines otherwise.
func Read(r io.Reader, csvForm bool) ([]Row, error) {
	var rows []Row
	if !csvForm {
		dec := json.NewDecoder(r)
		for {
			var row Row
			err := dec.Decode(&row)
			if err == io.EOF {
				return rows, nil
			}
			if err != nil {
				return nil, fmt.Errorf("row %d: %w", len(rows)+1, err)
			}
			rows = append(rows, row)
		}
	}
	cr := csv.NewReader(r)
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("empty CSV file: no header")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range Header {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("CSV header lacks %q", h)
		}
	}
	for n, rec := range recs[1:] {
		num := func(name string) float64 {
			v, perr := strconv.ParseFloat(rec[col[name]], 64)
			if perr != nil && err == nil {
				err = fmt.Errorf("line %d: %s: %w", n+2, name, perr)
			}
			return v
		}
		rows = append(rows, Row{
			T: num("t_s"), Phase: rec[col["phase"]], Target: int64(num("target")), Connected: int64(num("connected")),
			ConnectsPerSec: num("connects_per_s"), Disconnects: int64(num("disconnects")), Reconnects: int64(num("reconnects")),
			SentPerSec: num("sent_per_s"), ReceivedPerSec: num("received_per_s"), Holes: int64(num("holes")),
			LossPercent: num("loss_percent"), LatencyCount: int64(num("latency_count")),
			P50: num("p50_ms"), P99: num("p99_ms"), Max: num("max_ms"), Errors: int64(num("errors")),
		})
		if err != nil {
			return nil, err
		}
	}
	return rows, nil
}
