package tunnel

import (
	"bytes"
	"encoding/json"
	"time"
)

// pushTimeout bounds writing a catalog push or a refusal to one client:
// a client that does not read its control stream must not hold up a
// reload for the others.
const pushTimeout = 5 * time.Second

// Reload makes cfg the config the gateway serves, at once and without
// dropping a session:
//   - new logins are checked against its tokens, users and CAs;
//   - a session whose token or key it no longer accepts is refused (the
//     client is told "unauthorized", as at login) and ended;
//   - every other session gets its principal's new scope, and its client
//     the new catalog for that scope, in a catalog message (see doc.go,
//     "Catalog pushes"), when it changed.
//
// Listening addresses and TLS are not part of GatewayConfig: they stay.
// Streams already relaying go on; new ones see cfg. cfg must not be
// modified afterwards. Reload returns once every push is written or has
// failed, within pushTimeout.
func (g *Gateway) Reload(cfg *GatewayConfig) {
	g.live.Store(cfg)
	g.mu.Lock()
	sessions := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		sessions = append(sessions, s)
	}
	conns := make([]*sshConn, 0, len(g.sshConns))
	for c := range g.sshConns {
		conns = append(conns, c)
	}
	g.mu.Unlock()

	now := time.Now()
	done := make(chan struct{}, len(sessions))
	for _, s := range sessions {
		go func() {
			g.refresh(s, now)
			done <- struct{}{}
		}()
	}
	for _, c := range conns {
		g.refreshSSH(c, cfg, now)
	}
	for range sessions {
		<-done
	}
}

// refresh checks s's login against the current config and sends its
// client what changed. It holds s.send while it works, so that of two
// quick reloads the later config is the last one the client gets.
func (g *Gateway) refresh(s *session, now time.Time) {
	s.send.Lock()
	defer s.send.Unlock()
	if s.sent == nil || s.revoked {
		return // not welcomed yet (the welcome will carry the current config), or ending
	}
	cfg := g.config()
	who, ok := s.principal().recheck(cfg, now)
	if !ok {
		g.revoke(s, who)
		return
	}
	s.who.Store(&who)
	if !who.expose || cfg.Expose == nil {
		// The login may no longer expose: what it published goes now,
		// not when its session ends.
		if n := g.dropExposures(s); n > 0 {
			s.log.Info("exposures withdrawn: the reloaded config no longer lets this login expose", "exposures", n)
		}
	}
	cat := g.clientCatalog(who, s.log)
	body, err := json.Marshal(&cat)
	if err != nil || bytes.Equal(body, s.sent) {
		return
	}
	s.control.SetWriteDeadline(time.Now().Add(pushTimeout))
	defer s.control.SetWriteDeadline(time.Time{})
	m := &controlMsg{Type: msgCatalog, Catalog: &cat, HostnameSuffixes: cfg.HostnameSuffixes}
	if err := writeControl(s.control, m); err != nil {
		s.log.Info("catalog push failed: ending the session", "err", err)
		s.mux.Close()
		return
	}
	s.sent = body
	s.log.Debug("catalog pushed")
}

// revoke tells the client that its login is no longer accepted and ends
// the session. New streams are refused from now on; the client ends the
// session itself once it has read why (so that the reason, not a closed
// connection, is what it reports), and the gateway does after pushTimeout
// if it does not.
func (g *Gateway) revoke(s *session, who principal) {
	s.revoked = true
	s.who.Store(&principal{auth: who.auth, name: who.name}) // no projects
	s.log.Info("session ending: the reloaded config no longer accepts its login")
	s.control.SetWriteDeadline(time.Now().Add(pushTimeout))
	writeControl(s.control, &controlMsg{Type: msgError, Code: codeUnauthorized,
		Message: "the gateway no longer accepts this " + who.credential() + " (its config was changed); log in again with a valid one"})
	time.AfterFunc(pushTimeout, func() { s.mux.Close() })
}

// refreshSSH checks an SSH listener connection's login against cfg: one
// no longer accepted is closed (ssh says the connection was closed), the
// others get their new scope.
func (g *Gateway) refreshSSH(c *sshConn, cfg *GatewayConfig, now time.Time) {
	who, ok := c.who.Load().recheck(cfg, now)
	if !ok {
		g.logger().Info("ssh session ended: the reloaded config no longer accepts its login", who.logAttrs()...)
		c.conn.Close()
		return
	}
	c.who.Store(&who)
}

// recheck returns p as cfg sees it: the same token (by its hash) or key,
// with the projects cfg now gives it, or false when cfg no longer accepts
// it. A token may be renamed; a key must still log in as the same user.
func (p principal) recheck(cfg *GatewayConfig, now time.Time) (principal, bool) {
	if p.auth == "token" {
		for _, t := range cfg.Tokens {
			if t.SHA256 == p.tokenSum {
				p.name, p.projects, p.expose = t.Name, t.Projects, t.Expose
				return p, true
			}
		}
		return p, false
	}
	if p.key == nil {
		return p, false
	}
	// The key (or certificate) must still log in as the same user.
	u, err := cfg.authorizeAs(p.name, p.key, now)
	if err != nil {
		return p, false
	}
	p.projects, p.expose = u.Projects, u.Expose
	return p, true
}

// credential is what logged in, for messages.
func (p principal) credential() string {
	switch p.auth {
	case "token":
		return "token"
	case "ssh-cert":
		return "SSH certificate"
	}
	return "SSH key"
}
