//go:build !unix

package engine

// haveUsage: readUsage has nothing to read here.
const haveUsage = false

// usage is the process's own resource use, for the report's generator section.
type usage struct {
	cpu    float64 // user + system CPU seconds
	maxRSS uint64  // peak resident set, bytes
}

// readUsage has no portable source here: the report shows zeros.
func readUsage() usage { return usage{} }
