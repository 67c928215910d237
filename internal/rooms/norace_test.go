//go:build !race

package rooms

// raceDetector: see race_test.go.
const raceDetector = false
