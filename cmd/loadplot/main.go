// Command loadplot turns the interval file of a load test (loadgen -out
// FILE, CSV or JSON lines) into an SVG chart: clients connected against
// the load shape's target, deliveries per second, and the p50 and p99
// end-to-end latency of each interval.
//
// Usage:
//
//	loadgen -stages 10s:500,20s:500,10s:0 -out run.csv
//	loadplot -in run.csv -out docs/loadgen-run.svg -title "500 clients"
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/chatplatform/chat/internal/loadgen/series"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses the flags, reads the rows and writes the SVG; it returns the
// exit status (0 done, 1 failed, 2 bad flags).
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "interval `FILE` written by loadgen -out (CSV if it ends in .csv, JSON lines otherwise)")
	out := fs.String("out", "", "SVG `FILE` to write (default: standard output)")
	title := fs.String("title", "", "chart title (default: the input file's name)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *in == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "loadplot: give the interval file with -in FILE (see -h)")
		return 2
	}
	f, err := os.Open(*in)
	if err != nil {
		fmt.Fprintf(stderr, "loadplot: %v\n", err)
		return 1
	}
	rows, err := series.Read(f, strings.HasSuffix(strings.ToLower(*in), ".csv"))
	f.Close()
	if err == nil && len(rows) == 0 {
		err = errors.New("no rows")
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadplot: %s: %v\n", *in, err)
		return 1
	}
	if *title == "" {
		*title = *in
	}
	svg := plot(rows, *title)
	if *out == "" {
		_, err = io.WriteString(os.Stdout, svg)
	} else {
		err = os.WriteFile(*out, []byte(svg), 0o644)
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadplot: %v\n", err)
		return 1
	}
	return 0
}
