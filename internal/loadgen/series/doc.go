// Package series writes and reads the load generator's interval file
// (loadgen -out FILE): one row per progress interval, with that
// interval's rates, loss and latency percentiles, as JSON lines or, for a
// name ending in .csv, CSV with a header line.
//
// Usage:
//
//	w, err := series.Create("run.csv")
//	...
//	prev := loadgen.Snapshot{}
//	cfg.Progress = func(s loadgen.Snapshot) {
//		_ = w.Write(series.RowOf(loadgen.NewInterval(prev, s)))
//		prev = s
//	}
//	...
//	rows, err := series.Read(f, true) // for plotting
package series
