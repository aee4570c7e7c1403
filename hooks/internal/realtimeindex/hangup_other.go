//go:build !linux

package realtimeindex

import "net"

// watchHangup is not available here: each detached connection is read by a
// goroutine of its own until it fails (see readUntilClosed).
func watchHangup(net.Conn, func()) (unwatch func(), ok bool) { return nil, false }
