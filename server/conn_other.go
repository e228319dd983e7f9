//go:build !unix

package server

// autoMaxConnections is the per-listener cap when Config.MaxConnections is 0:
// systems without a file-descriptor limit to read get a fixed cap.
func autoMaxConnections() int { return 1 << 16 }
