//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || solaris || illumos

package d360

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
)

// closedByPeer reports whether the server closed (or wrote on) the idle
// keep-alive connection c: a non-blocking peek of one byte that finds the
// end of the stream, an error, or an unexpected answer. An HTTP/1.1 server
// may close an idle connection at any time (RFC 9112, section 9.5); a
// request written onto it would get no answer. This is the check
// go-sql-driver/mysql makes before reusing a connection (conncheck.go).
func closedByPeer(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n > 0 || (err == nil && n == 0) ||
			(err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR))
		return true
	})
	// A deadline passed already is the request's to report, not the
	// connection's.
	return closed || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded))
}
