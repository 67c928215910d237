//go:build race

package rooms

// raceDetector is set in a build with the race detector, where sync.Pool
// drops a share of what is put back on purpose, so allocation counts
// vary: the allocation tests run without it (.ci/test runs them so).
const raceDetector = true
