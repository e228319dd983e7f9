//go:build !linux

package sipua

// sysWrite writes b to the connected socket (udp_linux.go tells why Linux
// differs).
func (c *targetConn) sysWrite(b []byte) (int, error) { return c.UDPConn.Write(b) }

// sysRead reads one datagram from the connected socket into b.
func (c *targetConn) sysRead(b []byte) (int, error) { return c.UDPConn.Read(b) }
