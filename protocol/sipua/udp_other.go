//go:build !linux

package sipua

// sysWrite writes b to the connected socket (udp_linux.go tells why Linux
// differs).
func (c *targetConn) sysWrite(b []byte) (int, error) { return c.UDPConn.Write(b) }

// sysRead reads one datagram from the connected socket into b.
func (c *targetConn) sysRead(b []byte) (int, error) { return c.UDPConn.Read(b) }

// batchScratch: nothing to keep without sendmmsg.
type batchScratch struct{}

// sysWriteBatch writes bufs one by one and calls failed for those that fail.
func (c *targetConn) sysWriteBatch(bufs [][]byte, failed func(i int, err error)) {
	for i, b := range bufs {
		if _, err := c.sysWrite(b); err != nil {
			c.noteErr(err)
			failed(i, err)
		}
	}
}

// rawOp: nothing to keep without raw calls.
type rawOp struct{}
