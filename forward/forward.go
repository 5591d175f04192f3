// Package forward brings a gateway's private services and addons to this
// machine: each gets its own loopback address with its real port numbers,
// reached through one multiplexed TLS tunnel, optionally with hostnames in
// the hosts file. It offers what Northflank's JavaScript forwarding client
// offers: forward a service, an addon or a project, get results back, stop
// one or all, or run a function while forwarding.
//
// A Client holds one tunnel for all its forwards. When the tunnel drops, local
// listeners stay bound while the client reconnects, and connections made
// meanwhile wait up to Options.ConnectWait.
//
// Instead of a fwd gateway, the tunnel can be an SSH connection to any
// OpenSSH server (Options.SSH): the catalog is then the caller's, and the
// server dials the targets.
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwd-dev/fwd/hosts"
	"github.com/fwd-dev/fwd/internal/loopback"
	"github.com/fwd-dev/fwd/internal/roundrobin"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"golang.org/x/crypto/ssh"
)

// Options configure a Client: Gateway, with Token or SSHSigners, or SSH
// instead of all three.
type Options struct {
	// Gateway is the gateway's host:port, or several, comma-separated
	// ("a:7443,b:7443"): the client logs in to the first that takes it,
	// every address of a name in turn, starting from the one that last
	// worked, and moves on to the next when one fails or goes away.
	Gateway string
	Token   string
	// SSHSigners log in with SSH keys when Token is empty: the gateway
	// takes the first key one of its users has (see tunnel.ClientConfig).
	// Finding them (ssh-agent, key files) is the caller's part.
	SSHSigners []ssh.Signer
	// Trust verifies the gateway: a pinned fingerprint or a CA pool. The
	// zero value uses the system's roots.
	Trust tunnel.Trust
	// SkipHostnames leaves the hosts file alone (no root needed); the JS
	// client calls this ipOnly.
	SkipHostnames bool
	// HostsFile is the hosts file to edit; "" means the system's.
	HostsFile string
	// HostnameSuffixes narrow which catalog hostnames are written: one must
	// end in a suffix the gateway declared (its hostname_suffixes) and, if
	// this is set, in one of these too. "<name>" and "<name>.<project>" are
	// always written, reserved names (localhost, ip6-*, ...) never, nor a
	// name that a line of the user's own in the hosts file already maps.
	HostnameSuffixes []string
	// ConnectWait is how long a new local connection waits for a tunnel that
	// is down before it is closed; zero means 10s.
	ConnectWait time.Duration
	// Timeout bounds each connection to the gateway, from TCP connect to
	// the end of login; zero means 10s. The first connection's failure is
	// returned by the Forward call; later ones are retried.
	Timeout time.Duration
	// UDPFlowIdle ends a UDP flow (one local client address) after this long
	// without a datagram either way; zero means 60s.
	UDPFlowIdle time.Duration
	// Logger receives operational logs; nil discards them. Tokens are never
	// logged.
	Logger *slog.Logger
	// OnEvent, if set, is called on every change of state, from fwd's own
	// goroutines, one call at a time. It must not call back into the Client.
	OnEvent func(Event)
	// Dialer, if set, makes the TCP connection to the gateway.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// SSH, if set, forwards through an SSH server instead of a gateway:
	// Gateway, Token, SSHSigners, Trust and Dialer are then unused.
	SSH *SSHVia
}

// Result is the outcome for one forwarded port, shaped like the JavaScript
// client's PortForwardingResult: exactly one of Data and Error is set.
type Result struct {
	Data  *Forward     `json:"data,omitempty"`
	Error *ResultError `json:"error,omitempty"`
}

// Forward describes one port listening on this machine.
type Forward struct {
	Type      string   `json:"type"` // "service" or "addon"
	ProjectID string   `json:"projectId"`
	ID        string   `json:"id"`
	Address   string   `json:"address"`
	Port      int      `json:"port"` // the local port
	PortName  string   `json:"portName,omitempty"`
	Protocol  string   `json:"protocol,omitempty"`
	Hostnames []string `json:"hostnames"`
	// RemotePort is the catalog's port number. It differs from Port only when
	// that number could not be bound here; Note then says why.
	RemotePort int    `json:"remotePort"`
	Note       string `json:"note,omitempty"`
}

// ResultError is a port that could not be forwarded.
type ResultError struct {
	Message string `json:"message"`
}

// State is the tunnel's state.
type State int

// The states a Client's tunnel goes through.
const (
	StateConnected State = iota + 1
	StateReconnecting
	StateStopped
	StateConnecting // a connection to the gateway is under way: see Event.Phase
)

func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateStopped:
		return "stopped"
	case StateConnecting:
		return "connecting"
	}
	return "unknown"
}

// Event reports a change: the tunnel's state, or the set of forwards.
type Event struct {
	State State
	// Phase is, with StateConnecting, the step the connection is in.
	Phase tunnel.Phase
	// Err is why the tunnel is reconnecting, if known, or why the client
	// stopped by itself (see Client.Done).
	Err     error
	Results []Result // every current forward
	// CatalogChanged, with StateConnected, says that the gateway pushed a
	// new catalog and the forwards were updated to it without a reconnect.
	CatalogChanged bool
	// Exposed, with StateConnected after a reconnect, is every exposure
	// as published again on the new session.
	Exposed []ExposeResult
}

// Errors returned by Client methods.
var (
	ErrStopped  = errors.New("forward: client stopped")
	ErrNotFound = errors.New("forward: not found")
)

// Client forwards services and addons through one tunnel. Its methods are
// safe for concurrent use.
type Client struct {
	opts  Options
	log   *slog.Logger
	alloc loopback.Allocator
	hosts *hostnames

	startOnce sync.Once
	startErr  error
	link      *link
	noUDP     bool               // the tunnel carries TCP only (SSH)
	targets   roundrobin.Cursors // whose turn each port's targets are (SSH)

	reconnects atomic.Int64

	stateMu    sync.Mutex
	state      State     // the tunnel's, under stateMu
	stateSince time.Time // when it took that state

	// done is closed when the client stopped by itself because the gateway
	// refused it for good; fatal says why.
	done      chan struct{}
	fatal     error
	fatalOnce sync.Once

	exposing exposing // ports this machine publishes (expose.go)

	mu       sync.Mutex
	stopped  bool
	requests []request
	excluded map[catalog.ID]bool // stopped one by one inside a wider request
	suffixes []string            // the current session's hostname suffixes
	active   map[catalog.ID]*resourceForward
	order    []catalog.ID // active IDs in the order they were first forwarded
	eventMu  sync.Mutex
}

// request is one Forward call still in force: a service, an addon, a project
// (Name empty) or everything the token sees (Project empty too).
type request struct {
	Kind    catalog.Kind
	Project string
	Name    string
}

// New returns a Client. It connects on the first Forward call.
func New(opts Options) (*Client, error) {
	if err := opts.checkTunnel(); err != nil {
		return nil, err
	}
	if opts.ConnectWait <= 0 {
		opts.ConnectWait = 10 * time.Second
	}
	if opts.UDPFlowIdle <= 0 {
		opts.UDPFlowIdle = 60 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Client{opts: opts, log: log, active: map[catalog.ID]*resourceForward{}, excluded: map[catalog.ID]bool{}, done: make(chan struct{}),
		noUDP: opts.SSH != nil}
	c.link = newLink(c.dialer(), c.stateChanged, c.reconnected, c.catalogPushed, c.refused)
	if !opts.SkipHostnames {
		c.hosts = newHostnames(hosts.New(opts.HostsFile), opts.HostnameSuffixes, log)
	}
	return c, nil
}

// checkTunnel checks that the options say where the tunnel goes: a gateway,
// or an SSH server.
func (o *Options) checkTunnel() error {
	if o.SSH != nil {
		return o.SSH.check(o.Gateway)
	}
	_, err := splitGateways(o.Gateway)
	return err
}

// dialer is how the link connects: to the gateway, or to the SSH server.
func (c *Client) dialer() func(context.Context) (session, error) {
	if c.opts.SSH != nil {
		return c.dialSSH
	}
	cfg := &tunnel.ClientConfig{Token: c.opts.Token, SSHSigners: c.opts.SSHSigners, Trust: c.opts.Trust, Dialer: c.opts.Dialer, DialTimeout: c.opts.Timeout,
		OnPhase: func(p tunnel.Phase) { c.emit(Event{State: StateConnecting, Phase: p}) }}
	names, _ := splitGateways(c.opts.Gateway) // checked by New
	gws := &gateways{names: names, lookup: net.DefaultResolver.LookupHost}
	return func(ctx context.Context) (session, error) {
		s, err := gws.dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return tlsSession{s}, nil
	}
}

// connect brings the tunnel up once; later calls return the first result.
func (c *Client) connect(ctx context.Context) error {
	c.startOnce.Do(func() { c.startErr = c.link.start(ctx) })
	return c.startErr
}

// Catalog returns what the gateway offers this client's token.
func (c *Client) Catalog(ctx context.Context) (catalog.Catalog, error) {
	if err := c.connect(ctx); err != nil {
		return catalog.Catalog{}, err
	}
	if s := c.link.current(); s != nil {
		return s.Catalog(), nil
	}
	return catalog.Catalog{}, ErrTunnelDown
}

// ForwardService forwards every port of one service.
func (c *Client) ForwardService(ctx context.Context, projectID, serviceID string) ([]Result, error) {
	return c.forward(ctx, request{Kind: catalog.Service, Project: projectID, Name: serviceID})
}

// ForwardAddon forwards every port of one addon.
func (c *Client) ForwardAddon(ctx context.Context, projectID, addonID string) ([]Result, error) {
	return c.forward(ctx, request{Kind: catalog.Addon, Project: projectID, Name: addonID})
}

// ForwardProject forwards every service and addon of a project.
func (c *Client) ForwardProject(ctx context.Context, projectID string) ([]Result, error) {
	if projectID == "" {
		return nil, errors.New("forward: ForwardProject needs a project; use ForwardAll for every project")
	}
	return c.forward(ctx, request{Project: projectID})
}

// ForwardAll forwards every service and addon of every project the token
// may see.
func (c *Client) ForwardAll(ctx context.Context) ([]Result, error) {
	return c.forward(ctx, request{})
}

func (c *Client) forward(ctx context.Context, req request) ([]Result, error) {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		return nil, ErrStopped
	}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	s := c.link.current()
	if s == nil {
		return nil, ErrTunnelDown
	}
	cat := s.Catalog()
	wanted, err := req.resources(&cat)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, ErrStopped
	}
	c.requests = append(c.requests, req)
	if req.Name != "" {
		delete(c.excluded, catalog.ID{Project: req.Project, Kind: req.Kind, Name: req.Name})
	}
	c.suffixes = s.HostnameSuffixes()
	if err := c.reconcileLocked(&cat); err != nil {
		c.requests = c.requests[:len(c.requests)-1]
		c.reconcileLocked(&cat)
		return nil, err
	}
	var out []Result
	for _, r := range wanted {
		if f := c.active[r.ID()]; f != nil {
			out = append(out, f.results()...)
		}
	}
	c.emit(Event{State: StateConnected, Results: c.resultsLocked()})
	return out, nil
}

// resources lists what req names in cat, or why it names nothing.
func (req request) resources(cat *catalog.Catalog) ([]catalog.Resource, error) {
	if req.Project == "" {
		var all []catalog.Resource
		for i := range cat.Projects {
			all = append(all, cat.Projects[i].All()...)
		}
		if len(all) == 0 {
			return nil, notFound(errors.New("the token sees no service or addon"))
		}
		return all, nil
	}
	p, err := cat.Project(req.Project)
	if err != nil {
		return nil, notFound(err)
	}
	if req.Name == "" {
		all := p.All()
		if len(all) == 0 {
			return nil, notFound(fmt.Errorf("project %q has no service or addon", req.Project))
		}
		return all, nil
	}
	r, err := p.Resource(req.Kind, req.Name)
	if err != nil {
		return nil, notFound(err)
	}
	return []catalog.Resource{*r}, nil
}

// reconcileLocked makes the active forwards match the requests against cat:
// it starts what is wanted and missing, stops what is no longer wanted or no
// longer in the catalog, and rewrites the hostnames. c.mu is held.
func (c *Client) reconcileLocked(cat *catalog.Catalog) error {
	want := map[catalog.ID]catalog.Resource{}
	var wantOrder []catalog.ID
	for _, req := range c.requests {
		rs, err := req.resources(cat)
		if err != nil {
			c.log.Warn("forward no longer in the catalog", "err", err)
			continue
		}
		for _, r := range rs {
			if _, dup := want[r.ID()]; !dup && !c.excluded[r.ID()] {
				want[r.ID()] = r
				wantOrder = append(wantOrder, r.ID())
			}
		}
	}
	for _, id := range append([]catalog.ID(nil), c.order...) {
		r, ok := want[id]
		if !ok || !samePorts(c.active[id].res, r) {
			c.stopLocked(id)
			continue
		}
		// Only names changed: keep the listeners and their connections.
		c.active[id].res.Hostnames = r.Hostnames
	}
	var started []catalog.ID
	for _, id := range wantOrder {
		if c.active[id] != nil {
			continue
		}
		f := c.startResource(want[id])
		c.active[id] = f
		c.order = append(c.order, id)
		started = append(started, id)
	}
	if err := c.writeHostnamesLocked(); err != nil {
		for _, id := range started {
			c.stopLocked(id)
		}
		return err
	}
	return nil
}

// samePorts reports whether a and b listen alike: same ports, in order.
func samePorts(a, b catalog.Resource) bool {
	if len(a.Ports) != len(b.Ports) {
		return false
	}
	for i := range a.Ports {
		if a.Ports[i].Port != b.Ports[i].Port || a.Ports[i].Protocol != b.Ports[i].Protocol || a.Ports[i].Name != b.Ports[i].Name {
			return false
		}
	}
	return true
}

func (c *Client) stopLocked(id catalog.ID) {
	f := c.active[id]
	if f == nil {
		return
	}
	f.close()
	delete(c.active, id)
	for i, o := range c.order {
		if o == id {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	c.alloc.Release(addressID(id))
}

func (c *Client) writeHostnamesLocked() error {
	if c.hosts == nil {
		return nil
	}
	started := time.Now()
	names := c.hosts.assign(c.order, c.active, c.suffixes)
	for id, f := range c.active {
		f.setHostnames(names[id])
	}
	shadowed, err := c.hosts.write(c.order, c.active)
	if err != nil {
		return err
	}
	// fwdbench reads this line to time the block for a big project.
	c.log.Debug("hosts block written", "resources", len(names), "seconds", time.Since(started).Seconds())
	for _, f := range c.active {
		f.dropHostnames(shadowed)
	}
	return nil
}

// PortStats is one forwarded port and what it has carried since it started
// listening.
type PortStats struct {
	Forward
	// Connections is how many local connections (for UDP, flows) are open.
	Connections int64 `json:"connections"`
	// BytesSent went from local clients to the target; BytesReceived came
	// back. They count payload, as it moves.
	BytesSent     int64     `json:"bytesSent"`
	BytesReceived int64     `json:"bytesReceived"`
	Since         time.Time `json:"since"`
}

// Stats returns every listening port's traffic, in the order of Results;
// ports that could not be forwarded are left out.
func (c *Client) Stats() []PortStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []PortStats
	for _, id := range c.order {
		f := c.active[id]
		for i, r := range f.results() {
			pf := f.ports[i]
			if r.Data == nil {
				continue
			}
			out = append(out, PortStats{Forward: *r.Data, Connections: pf.traffic.open.Load(),
				BytesSent: pf.traffic.sent.Load(), BytesReceived: pf.traffic.received.Load(), Since: pf.since})
		}
	}
	return out
}

// State returns the tunnel's state and since when it has been in it; the
// zero State before the first connection.
func (c *Client) State() (State, time.Time) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.state, c.stateSince
}

// Gateway returns the address of the gateway the client talks to, or with
// Options.SSH the SSH server's name (SSHVia.Name).
func (c *Client) Gateway() string {
	if c.opts.SSH != nil {
		return c.opts.SSH.name()
	}
	return c.opts.Gateway
}

// Results returns every current forward, in the order they were started.
func (c *Client) Results() []Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resultsLocked()
}

func (c *Client) resultsLocked() []Result {
	var out []Result
	for _, id := range c.order {
		out = append(out, c.active[id].results()...)
	}
	return out
}

// StopServiceForwarding stops what ForwardService started for that service.
func (c *Client) StopServiceForwarding(projectID, serviceID string) error {
	return c.stopRequest(request{Kind: catalog.Service, Project: projectID, Name: serviceID}, true)
}

// StopAddonForwarding stops what ForwardAddon started for that addon.
func (c *Client) StopAddonForwarding(projectID, addonID string) error {
	return c.stopRequest(request{Kind: catalog.Addon, Project: projectID, Name: addonID}, true)
}

// StopProjectForwarding stops what ForwardProject started for that project.
func (c *Client) StopProjectForwarding(projectID string) error {
	return c.stopRequest(request{Project: projectID}, true)
}

// StopForwarding stops one service or addon however it was forwarded: a
// request for it alone is withdrawn, and one for its whole project (or for
// everything) goes on forwarding the rest. Its listeners close and its
// hostnames go. It returns an error matching ErrNotFound when nothing
// forwards it. Forwarding it again by name undoes it.
func (c *Client) StopForwarding(kind catalog.Kind, projectID, name string) error {
	id := catalog.ID{Project: projectID, Kind: kind, Name: name}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active[id] == nil {
		return notFound(fmt.Errorf("nothing forwarded for %s", id))
	}
	kept := c.requests[:0]
	for _, r := range c.requests {
		if r != (request{Kind: kind, Project: projectID, Name: name}) {
			kept = append(kept, r)
		}
	}
	c.requests = kept
	c.excluded[id] = true
	return c.reconcileCurrentLocked()
}

// reconcileCurrentLocked makes the forwards match the requests against the
// current catalog (or, while the tunnel is down, against what is
// forwarded), and reports the change. c.mu is held.
func (c *Client) reconcileCurrentLocked() error {
	var cat catalog.Catalog
	if s := c.link.current(); s != nil {
		cat = s.Catalog()
	} else {
		cat = c.catalogOfActiveLocked()
	}
	err := c.reconcileLocked(&cat)
	c.emit(Event{State: StateConnected, Results: c.resultsLocked()})
	return err
}

// stopRequest withdraws a request: every copy of it, or with all false just
// one (a With... helper withdraws only its own). A resource that another
// request still wants (a service inside a forwarded project) keeps
// forwarding.
func (c *Client) stopRequest(req request, all bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.requests[:0]
	found := false
	for _, r := range c.requests {
		if r == req && (all || !found) {
			found = true
			continue
		}
		kept = append(kept, r)
	}
	c.requests = kept
	if !found {
		return notFound(fmt.Errorf("nothing forwarded for %s", req))
	}
	return c.reconcileCurrentLocked()
}

// catalogOfActiveLocked rebuilds a catalog from what is forwarded, so that
// stopping works while the tunnel is down.
func (c *Client) catalogOfActiveLocked() catalog.Catalog {
	var cat catalog.Catalog
	for _, id := range c.order {
		r := c.active[id].res
		p, err := cat.Project(r.Project)
		if err != nil {
			cat.Projects = append(cat.Projects, catalog.Project{Name: r.Project})
			p = &cat.Projects[len(cat.Projects)-1]
		}
		if r.Kind == catalog.Addon {
			p.Addons = append(p.Addons, r)
		} else {
			p.Services = append(p.Services, r)
		}
	}
	return cat
}

func (req request) String() string {
	switch {
	case req.Project == "":
		return "all projects"
	case req.Name == "":
		return "project " + req.Project
	}
	return catalog.ID{Project: req.Project, Kind: req.Kind, Name: req.Name}.String()
}

// Stop closes every forward and the tunnel and removes the hostnames. The
// Client cannot be used again.
func (c *Client) Stop() error { return c.stop(nil) }

// stop is Stop; cause, if set, is why the client stops by itself, which the
// stopped event carries.
func (c *Client) stop(cause error) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()
	c.releaseExposures()
	c.mu.Lock()
	c.requests = nil
	for _, id := range append([]catalog.ID(nil), c.order...) {
		c.stopLocked(id)
	}
	var err error
	if c.hosts != nil {
		err = c.hosts.remove()
	}
	c.mu.Unlock()
	c.link.close()
	c.emit(Event{State: StateStopped, Err: cause})
	return err
}

// Shutdown stops forwarding gracefully: listeners close and hostnames go at
// once, connections already open may finish until ctx is done, then
// everything stops as with Stop.
func (c *Client) Shutdown(ctx context.Context) error {
	// Names first: once a listener is gone, nothing should point at it.
	hostsErr := c.RemoveHostnames()
	c.mu.Lock()
	var waits []<-chan struct{}
	for _, id := range c.order {
		for _, pf := range c.active[id].ports {
			if pf.srv != nil {
				pf.srv.stopAccepting()
				waits = append(waits, pf.srv.drained())
			}
		}
	}
	c.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
		}
	}
	return errors.Join(hostsErr, c.Stop())
}

// stateChanged is the link's callback.
func (c *Client) stateChanged(state State, err error, attempt int) {
	if attempt == 0 {
		c.stateMu.Lock()
		c.state, c.stateSince = state, time.Now()
		c.stateMu.Unlock()
	}
	switch {
	case state == StateReconnecting:
		c.logReconnecting(err, attempt)
	case c.reconnects.Add(1) == 1:
		// The first connection is what the user asked for; only say so in
		// debug logs, so that a failing command prints just its error.
		c.log.Debug("tunnel up", "gateway", c.Gateway())
	default:
		c.log.Info("tunnel up again", "gateway", c.Gateway())
	}
	c.emit(Event{State: state, Err: err, Results: c.Results()})
}

// logReconnecting says once why the tunnel is down, then every tenth failed
// attempt why it is still down, so a long outage does not flood the log.
func (c *Client) logReconnecting(err error, attempt int) {
	switch {
	case attempt == 0:
		c.log.Warn("tunnel down, reconnecting; local ports stay open", "cause", err)
	case attempt%10 == 0:
		c.log.Info("still reconnecting", "attempts", attempt, "err", err)
	default:
		c.log.Debug("reconnect failed", "attempt", attempt, "err", err)
	}
}

// refused is the link's callback for a reconnect the gateway refused for
// good (the token was removed, the certificate changed): the client stops
// as Stop does, hostnames included, and Done is closed.
func (c *Client) refused(err error) {
	c.fatalOnce.Do(func() {
		c.log.Error("the gateway refused to take this client back; stopping", "err", err)
		// Stop waits for the link, whose goroutine this is: not here.
		go func() {
			if stopErr := c.stop(err); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
			c.fatal = err
			close(c.done)
		}()
	})
}

// Done is closed when the client has stopped by itself: the gateway refused
// a reconnect for good (a removed token, a certificate no longer trusted).
// Err then says why. Stop does not close it.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped by itself, once Done is closed; nil
// before.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.fatal
	default:
		return nil
	}
}

// reconnected reads the catalog again: services and addons added or removed
// while the tunnel was down are forwarded or dropped.
func (c *Client) reconnected(s session) {
	cat := s.Catalog()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.suffixes = s.HostnameSuffixes()
	if err := c.reconcileLocked(&cat); err != nil {
		c.log.Error("updating forwards after reconnect", "err", err)
	}
	go c.reexpose(s)
}

// catalogPushed applies a catalog the gateway pushed, without
// reconnecting: resources and ports added or removed are forwarded or
// dropped, hostnames follow, and an event with CatalogChanged reports the
// forwards as they now are.
func (c *Client) catalogPushed(s session) {
	cat := s.Catalog()
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.suffixes = s.HostnameSuffixes()
	if err := c.reconcileLocked(&cat); err != nil {
		c.log.Error("applying the gateway's new catalog", "err", err)
	}
	results := c.resultsLocked()
	c.mu.Unlock()
	c.log.Info("the gateway's catalog changed: forwards updated", "forwards", len(results))
	c.emit(Event{State: StateConnected, CatalogChanged: true, Results: results})
}

func (c *Client) emit(e Event) {
	if c.opts.OnEvent == nil {
		return
	}
	c.eventMu.Lock()
	defer c.eventMu.Unlock()
	c.opts.OnEvent(e)
}

// WithServiceForwarding forwards a service, calls fn with the results and
// stops forwarding when fn returns.
func (c *Client) WithServiceForwarding(ctx context.Context, projectID, serviceID string, fn func(context.Context, []Result) error) error {
	req := request{Kind: catalog.Service, Project: projectID, Name: serviceID}
	return c.with(ctx, req, fn)
}

// WithAddonForwarding forwards an addon, calls fn with the results and stops
// forwarding when fn returns.
func (c *Client) WithAddonForwarding(ctx context.Context, projectID, addonID string, fn func(context.Context, []Result) error) error {
	req := request{Kind: catalog.Addon, Project: projectID, Name: addonID}
	return c.with(ctx, req, fn)
}

// WithProjectForwarding forwards a project, calls fn with the results and
// stops forwarding when fn returns.
func (c *Client) WithProjectForwarding(ctx context.Context, projectID string, fn func(context.Context, []Result) error) error {
	if projectID == "" {
		return errors.New("forward: WithProjectForwarding needs a project")
	}
	return c.with(ctx, request{Project: projectID}, fn)
}

// with forwards req, runs fn, then withdraws req: only this request, so a
// forward the caller started before stays.
func (c *Client) with(ctx context.Context, req request, fn func(context.Context, []Result) error) error {
	results, err := c.forward(ctx, req)
	if err != nil {
		return err
	}
	fnErr := fn(ctx, results)
	return errors.Join(fnErr, c.stopRequest(req, false))
}

// RemoveHostnames removes this client's hostnames at once, without waiting for
// anything else: for a user who presses Ctrl-C a second time. Stop does it too.
func (c *Client) RemoveHostnames() error {
	if c.hosts == nil {
		return nil
	}
	return c.hosts.remove()
}

// notFoundError is a lookup that found nothing. Its text is the lookup's own
// message, which names what exists; errors.Is matches ErrNotFound.
type notFoundError struct{ err error }

func notFound(err error) error           { return &notFoundError{err} }
func (e *notFoundError) Error() string   { return e.err.Error() }
func (e *notFoundError) Unwrap() error   { return e.err }
func (e *notFoundError) Is(t error) bool { return t == ErrNotFound }
