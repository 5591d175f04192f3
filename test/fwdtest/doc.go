// Package fwdtest is fwd's test support, in the spirit of net/http/httptest:
// everything a test needs to run fwd for real, in one place.
//
// # A gateway and its clients
//
// NewGateway starts a gateway in-process on a loopback port, over real TLS
// with a certificate of its own, serving a catalog to one token that sees
// every project; NewClient returns a forward.Client that pins it. Both are
// stopped when the test ends (t.Cleanup). StartGateway is NewGateway for
// callers without a testing.TB, such as examples.
//
// # Real servers
//
// StartPostgres, StartRedis, StartNginx, StartDnsmasq and StartSSHD run the
// servers of Debian's packages, each in a directory the caller gives, on a
// free loopback port; StartEcho, StartHashSink, StartHashSource,
// StartH2Stream and StartWebSocketEcho are small Go servers. A missing binary
// is reported as an error wrapping ErrNotInstalled (.ci/install-deps.sh
// installs them all); NeedBinaries skips a test for it.
//
// # Processes and ports
//
// Process supervises one child process: its stderr kept for a failure
// message, its stdout line by line, stopped with a signal and reaped.
// FreePort picks a port nothing listens on, for servers that must be told
// one.
//
// Every server listens on loopback only.
package fwdtest
