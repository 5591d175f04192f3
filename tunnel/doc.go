// Package tunnel is fwd's wire protocol: one TLS 1.3 connection between a
// client and a gateway, multiplexed into streams with yamux, a control stream
// for login and the catalog, and one data stream per forwarded connection.
//
// # Session
//
// The client dials the gateway over TCP and completes a TLS 1.3 handshake
// (ALPN "fwd/1"; TLS 1.2 and older are refused by both sides). It trusts the
// gateway through a CA pool or a pinned SHA-256 fingerprint of the gateway's
// leaf certificate. Both ends then run a yamux session over the TLS
// connection, the client as yamux client.
//
// # Multiplexing
//
// Frames are yamux's, unchanged (github.com/hashicorp/yamux, spec.md):
//
//	offset  size  field
//	0       1     version (0)
//	1       1     type: 0 data, 1 window update, 2 ping, 3 go away
//	2       2     flags: 1 SYN, 2 ACK, 4 FIN, 8 RST
//	4       4     stream id (client odd, gateway even; 0 for the session)
//	8       4     length: body bytes (data), window delta (window
//	              update), opaque value (ping), reason (go away)
//
// Both ends use fwd's own implementation (internal/mux), which any yamux
// implementation can talk to, so the protocol version stays 1. How it uses
// the format, none of which a peer needs to know:
//
//   - A stream's SYN rides on its first frame, normally the data frame with
//     the stream header; an acceptor's ACK rides on its first frame, the
//     status reply.
//   - Data frames are written header and body in one write; bulk frames
//     are 64 KiB, four full TLS records.
//   - Receive windows start at the spec's 256 KiB and double whenever a
//     stream used its window within two round trips (pings measure the
//     round trip), up to 32 MiB per stream; the window granted above
//     256 KiB per stream is capped at 256 MiB per session.
//   - Each end pings every 5 s and ends the session when a ping is not
//     answered within 5 s and nothing else arrived meanwhile. While other
//     frames keep arriving (an answer queued behind bulk data) the wait
//     goes on, up to 25 s in all.
//   - What a stream buffers is bounded by its window, however the peer
//     cuts its frames (small frames are packed together), and the control
//     frames an end owes are bounded too (only the latest ping answer,
//     window updates merged per stream): a peer that stops reading while it
//     floods pings or resets ends its session.
//   - Only the client opens streams. Until the gateway has sent its
//     welcome, every stream but the control stream is reset; afterwards at
//     most the session's stream limit plus 1024 may be open. A stream
//     counts against the limit from its SYN until the client's FIN or RST
//     arrives (a stream the client has finished sending on no longer
//     counts, though its target may still answer); one over the limit
//     waits up to 1 s for a slot, then is answered with status 4. The
//     gateway opens streams only for exposures (see Exposing), after a
//     welcome that named the expose feature; the client resets any other
//     stream the gateway opens.
//
// # Control stream
//
// The first stream the client opens is the control stream. Each message on it
// is a frame:
//
//	+----------------+----------------------------+
//	| length uint32  | JSON object (length bytes) |
//	+----------------+----------------------------+
//
// length is big endian and at most MaxControlFrame (1 MiB) bytes from a
// client, MaxCatalogFrame (64 MiB) from the gateway, whose welcome and
// pushes hold the whole catalog (about 1.6 MB for 30,000 ports; gateways
// and clients before this limit took 1 MiB both ways); a larger frame ends
// the session. Every object has a "type":
//
//	client -> gateway  {"type":"hello","version":1,"token":"fwd_..."}
//	gateway -> client  {"type":"welcome","version":1,"catalog":{...}}
//	gateway -> client  {"type":"error","code":"unauthorized","message":"..."}
//
// The catalog in a welcome holds only the projects the token may see, without
// private targets, and hostname_suffixes lists the DNS suffixes under which
// a client may write the catalog's hostnames to its hosts file. An error
// has a code: "unauthorized" (the token), "version", "limit" (sessions) or
// "too_many_failures", which carries "retry_after", the seconds the source
// must wait; while it waits, its tokens are not checked.
//
// # SSH-key login
//
// Instead of a token, a hello may offer SSH public keys (at most 16, each
// the key's SSH wire format in base64, as in authorized_keys; an SSH user
// certificate is offered as such):
//
//	client -> gateway  {"type":"hello","version":1,"ssh_keys":["AAAAC3Nza...",...]}
//	gateway -> client  {"type":"challenge","nonce":"<32 bytes, base64>","ssh_key_index":0}
//	client -> gateway  {"type":"ssh_signature","signature":"<base64>"}
//	gateway -> client  {"type":"welcome",...} or {"type":"error","code":"ssh_refused",...}
//
// The gateway takes the first offered key that logs in as one of its
// users: a key in a user's ssh_keys, or a certificate signed by its
// ssh_user_ca, valid now, naming a user as a principal. It answers with a
// fresh random nonce and the index of that key. The client signs, with
// that key, the bytes
//
//	"fwd ssh login v1" 0x00 || nonce || EKM || SHA-256(gateway certificate)
//
// where EKM is 32 bytes of TLS keying material exported from this session
// with the label "EXPORTER-fwd-ssh-login" and no context (RFC 8446, 7.5),
// and the certificate is the DER of the gateway's leaf certificate as the
// client received it. The signature is an SSH signature in its wire format
// (RFC 4253 6.6); RSA keys sign with rsa-sha2-256 or rsa-sha2-512, as
// "ssh-rsa" (SHA-1) is refused. Because the signed bytes hold this TLS
// session's keying material, a signature cannot be replayed on another
// session, nor relayed by a man in the middle, whose TLS session with the
// gateway is not the client's.
//
// The login attempt is charged against the source's failures before any
// key is looked at, as for tokens. A refusal has the code "ssh_refused"
// and says why for each key offered, as OpenSSH would word it: key not
// authorized (with its SHA256 fingerprint), certificate expired or not yet
// valid, principal not allowed, or a signature that does not verify.
//
// A gateway that predates SSH-key login reads such a hello as one with an
// empty token and answers "unauthorized"; a client then says that the
// gateway is too old for SSH keys. Token logins are unchanged, so clients
// and gateways of either version still log each other in with tokens.
//
// # After the login
//
// The gateway closes the session after an error message. The control
// stream stays open for the whole session, and both ends keep reading it:
// when either end closes or resets it, the session ends, and an error
// message after the welcome (a token removed, say) ends it with that
// error. A client skips message types it does not know, so that a gateway
// may add some: an older client ignores catalog pushes.
//
// # Catalog pushes
//
// When the gateway's config is reloaded (or its Kubernetes catalog
// changes), each session gets, after its welcome and at any time:
//
//	gateway -> client  {"type":"catalog","catalog":{...},"hostname_suffixes":[...]}
//
// The catalog is the whole new catalog for the session's login, exactly as
// a welcome would carry it now: only the projects the token or user may
// see, without targets. It is sent only when it differs from the last one
// the session was sent, and replaces that one whole (no diff to apply in
// order). The client then forwards what was added, stops what was removed
// and rewrites its hostnames, on the same session. A reload that no longer
// accepts the session's token or key sends instead
//
//	gateway -> client  {"type":"error","code":"unauthorized","message":"..."}
//
// refuses the session's new streams at once, and closes the session once
// the client has (or after 5 s): the client stops, as for a token refused
// at login. A reload that narrows the login's projects refuses new
// streams to the projects taken away; streams already relaying go on.
//
// # Data streams
//
// Every other stream carries one forwarded TCP connection or UDP flow. The
// client writes a stream header and may write payload right after it, without
// waiting: opening a connection costs no extra round trip.
//
//	offset  size  field
//	0       1     magic 'F' (0x46)
//	1       1     header version (1)
//	2       1     network: 1 = TCP, 2 = UDP
//	3       1     kind: 1 = service, 2 = addon
//	4       2     port, big endian: the catalog port, not the local one
//	6       1     n = length of the project name (1..MaxName)
//	7       n     project name
//	7+n     1     m = length of the service or addon name (1..MaxName)
//	8+n     m     service or addon name
//
// The gateway looks (project, kind, name, network, port) up in its catalog,
// checks the token's scope and dials one of the port's targets (round-robin,
// trying the next target when a dial fails). It never dials an address that
// is not in its catalog. It answers with one status byte, followed for any
// status but OK by a message:
//
//	offset  size  field
//	0       1     status: 0 OK, 1 not found, 2 forbidden, 3 dial failed,
//	              4 limit reached, 5 bad header
//	1       2     k = message length, big endian (absent when status is OK)
//	3       k     UTF-8 message for the user
//
// The client holds the header back until the local connection's first bytes,
// if they are already waiting when it opens the stream (the client speaks
// first), so that header and payload travel in one frame; otherwise the
// header goes out alone at once. When a TCP stream's header arrived with
// payload, the client is not waiting for the status, and the gateway sends an
// OK in front of the target's first bytes (or of its FIN) instead of in a
// frame of its own; a refusal or a failed dial is still answered at once. A
// stream whose header came alone gets its OK as soon as the target is
// dialled. Either way the status byte is the first byte the gateway sends,
// so peers need not know which was done, and the version stays 1.
//
// After OK, TCP streams carry raw bytes both ways; closing the write side of a
// stream (yamux FIN) is a TCP half-close, and a reset of either TCP end
// (yamux RST) resets the other. UDP streams carry datagrams, each
// prefixed by its length as a big-endian uint16.
//
// # Exposing
//
// Exposing publishes a port of the client's machine through the gateway:
// the gateway opens a stream to the client for each public connection.
// Both sides must offer it: the hello carries "features":["expose"] from
// a client that accepts such streams, and the welcome carries the same
// from a gateway that serves expose requests, only when the hello did.
// Peers that do not name it never see a gateway-opened stream or an
// expose message, so older clients and gateways keep working; a client
// whose welcome lacks the feature says the gateway is too old to expose.
//
// After the welcome, the client asks on the control stream, with an id
// of its choosing (unique on the session):
//
//	client -> gateway  {"type":"expose","id":1,"expose":{"local_port":3000,"name":"web",
//	                    "port_name":"http","project":"shop","tcp":false,"remote_port":0,
//	                    "symmetric":false,"auth_sha256":"<hex>","allow_ips":["10.0.0.0/8"],
//	                    "rate_limit":5}}
//	gateway -> client  {"type":"exposed","id":1,"grant":{"url":"https://http--web--k3v9x2qa.example.dev"}}
//	gateway -> client  {"type":"exposed","id":2,"grant":{"tcp_addr":"example.dev:30017","remote_port":30017}}
//	gateway -> client  {"type":"expose_refused","id":1,"code":"forbidden","message":"..."}
//	client -> gateway  {"type":"unexpose","id":1}
//	gateway -> client  {"type":"unexposed","id":1}
//
// The request never holds an address: the client alone knows which local
// address id 1 stands for. auth_sha256 is the SHA-256 of "user:password"
// for HTTP basic auth, so the gateway never holds the password. A refusal
// has a code: "forbidden" (the token or user lacks the expose permission,
// or the project is outside its scope), "unavailable" (the gateway's
// config has no expose: section, or no tcp_ports for a TCP request),
// "limit" (the login's max_per_login exposures), "port" (the TCP port
// asked for is outside the range, leased to another exposure, or in use)
// or "invalid" (a name that cannot be part of a URL, say). A refusal does
// not end the session. unexpose withdraws an exposure and gives its TCP
// port back; a session that ends withdraws its exposures but keeps their
// leases, so that the client's next session gets the same URL and port.
//
// The HTTPS URL is https://PORTNAME--NAME--LABEL.DOMAIN, where LABEL is a
// random 8-character label leased per (login, project, name) and renewed
// while exposed (24 h by default); a TCP exposure's port is leased per the
// same key from the gateway's tcp_ports. A newer exposure of the same key
// replaces an older one still registered (a session not yet seen dead).
//
// For each public connection (one TCP connection, or one connection of
// the gateway's HTTP proxy to the app, reused for later requests) the
// gateway opens a stream with this header:
//
//	offset  size  field
//	0       1     magic 'E' (0x45)
//	1       1     header version (1)
//	2       4     exposure id, big endian: the id of the client's request
//	6       1     n = length of the peer text (0..64)
//	7       n     the public peer's address, "ip:port", for the client's logs
//
// The client looks the id up among its exposures on this session and
// dials that exposure's local address, and nothing else; it answers with
// a status byte, as the gateway answers data streams: 0 OK, then raw
// bytes both ways (half-closes and resets passed on); 1 for an id it does
// not expose (any more); 3 when the local port does not answer, with a
// message. A stream with a bad header is reset. Streams the gateway opens
// take slots of the session's stream limit like the client's.
//
// The gateway's edge refuses by itself, before any stream is opened: a
// host that is no exposure (404), a Host header that is not the TLS
// server name (421), a peer address outside allow_ips (403, the address
// of the connection itself, never X-Forwarded-For), missing or wrong
// basic auth (401), and requests over rate_limit (429).
//
// # Shutdown
//
// A gateway that shuts down sends a yamux go away (reason 0) on every
// session and answers streams that still arrive with status 4 ("gateway
// shutting down"). Streams already open go on until they end or the
// gateway's grace period is over; then it closes the sessions. A client
// opens no stream on a session after its go away (Session.GoingAway) and
// dials a new session for new connections.
//
// # SSH listener
//
// A gateway may also speak SSH (Gateway.ServeSSH; ssh_listen in
// gateway.yaml), so that a user with nothing but OpenSSH forwards ports
// with
//
//	ssh -N -L 5432:db.shop:5432 -p 2222 alice@gateway
//
// It authenticates with public keys only: a key in the user's keys, or a
// user certificate signed by an ssh_user_ca, valid now, with the SSH user
// name among its principals. The SSH user name must be the user's name;
// a key or certificate of another user is refused. Passwords,
// keyboard-interactive and tokens are not accepted. The login is charged
// against the source's failures as soon as the SSH handshake reaches
// authentication, before any key is looked at, and shares the limiter of
// the TLS logins; a source that must wait is told so in a banner ("too
// many failed logins from ADDR: try again in Ns") and its keys are refused
// unchecked. Connections count in max_handshakes and
// max_handshakes_per_source until the login is over (bounded by the same
// 10 s), and in max_sessions afterwards.
//
// Only direct-tcpip channels are served (ssh -L and ssh -W). The
// destination host is a resource's <name>.<project> (a service or an
// addon: names are unique within a project) or one of its catalog
// hostnames, in any case, and the destination port one of its TCP ports;
// the gateway dials one of that port's targets as for a data stream and
// relays the channel, half-closes passed on, cut after idle_timeout.
// Channels count in max_streams_per_session. Everything else is refused,
// and no target is dialled for it: a channel with "administratively
// prohibited" and a reason that names what was asked,
//
//	db.other:5432: no such service or addon in your projects
//	api.shop:9999: api has no TCP port 9999 (its TCP ports: 8080)
//	dns.shop:53: dns's port 53 is UDP, which SSH cannot forward: forward it with fwd
//	10.0.0.5:22: not a catalog service or addon: use <name>.<project>:<port>
//	api.shop:8080: your certificate does not permit port forwarding (...)
//	the fwd gateway runs no shell, command or subsystem: use ssh -N -L ...
//
// (a resource outside the user's projects gets the same answer as one that
// does not exist, so that no login can probe the catalog). The last two are
// a certificate issued without permit-port-forwarding, as sshd treats it,
// and a session channel (shell, exec, subsystem); Unix sockets
// (direct-streamlocal@openssh.com) and any other channel type are refused
// the same way. A target that cannot be dialled is "connect failed"; a
// channel over the stream limit, after waiting 1 s for a slot, or opened
// while the gateway shuts down is "resource shortage". Global requests,
// remote forwarding (tcpip-forward, ssh -R) among them, are answered with
// a failure, which is also how keepalive@openssh.com
// (ServerAliveInterval) is answered. The gateway sends its own
// keepalive@openssh.com every 15 s and drops a client that has not
// answered within 15 s.
//
// On Shutdown the SSH listener closes with the TLS one, new channels are
// refused, open ones may finish within the grace period, and then the
// connections are closed.
package tunnel
