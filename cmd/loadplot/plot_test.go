package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatplatform/chat/internal/loadgen/series"
)

func TestPlotFromFile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "run.csv")
	w, err := series.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range []series.Row{
		{T: 1, Phase: "send", Target: 50, Connected: 48, SentPerSec: 10, ReceivedPerSec: 480, LatencyCount: 480, P50: 2, P99: 9, Max: 12},
		{T: 2, Phase: "send", Target: 100, Connected: 100, SentPerSec: 10, ReceivedPerSec: 1000, LatencyCount: 1000, P50: 3, P99: 15, Max: 20},
		{T: 3, Phase: "send", Target: 0, Connected: 0},
	} {
		if err := w.Write(r); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run.svg")
	if code := run([]string{"-in", in, "-out", out, "-title", "a <run>"}, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Well-formed XML, with a polyline per series (latency: the two
	// measured intervals only) and the title escaped.
	dec := xml.NewDecoder(bytes.NewReader(b))
	lines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
			for _, a := range se.Attr {
				if a.Name.Local == "points" && strings.Contains(a.Value, "NaN") {
					t.Errorf("points %q", a.Value)
				}
			}
		}
	}
	if lines != 6 || !strings.Contains(string(b), "a &lt;run&gt;") {
		t.Errorf("%d polylines, want 6; title escaped: %v", lines, strings.Contains(string(b), "a &lt;run&gt;"))
	}
}

func TestPlotBadInput(t *testing.T) {
	if code := run(nil, io.Discard); code != 2 {
		t.Errorf("no -in: exit %d, want 2", code)
	}
	empty := filepath.Join(t.TempDir(), "e.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"-in", empty}, io.Discard); code != 1 {
		t.Errorf("empty file: exit %d, want 1", code)
	}
}
