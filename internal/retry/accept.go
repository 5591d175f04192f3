package retry

import (
	"errors"
	"net"
	"time"
)

// AcceptLoop accepts connections on ln and hands each to handle, on the
// loop's goroutine (handle starts one of its own if it must), until ln is
// closed or done is. A failure other than a closed listener (out of file
// descriptors, say) is waited out, paced by Pause, instead of ending the
// loop or spinning; report, if set, hears of the first failure of a run and
// then of the recovery (with nil). It returns the error that ended it, nil
// when done was closed.
func AcceptLoop(ln net.Listener, done <-chan struct{}, handle func(net.Conn), report func(error)) error {
	var pause Pause
	for {
		conn, err := ln.Accept()
		if err == nil {
			if pause.Succeeded() && report != nil {
				report(nil)
			}
			handle(conn)
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		wait, first := pause.Failed()
		if first && report != nil {
			report(err)
		}
		select {
		case <-time.After(wait):
		case <-done:
			return nil
		}
	}
}
