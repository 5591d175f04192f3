package config

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// checker collects the problems of a decoded Config. pos, when not nil,
// maps paths like "projects[0].name" to where they were in the file.
type checker struct {
	file string
	pos  map[string]position
	errs []*Error
	// refs are problems with references between parts (a token's unknown
	// project), reported only when the parts themselves are fine, as they
	// are often a consequence (a misspelt project name).
	refs []*Error
	// kube is set when the catalog comes from Kubernetes: projects are
	// namespaces, which need not exist yet.
	kube *KubernetesCatalog
	// noTargetsOK lets a port have no targets, as a live catalog's port
	// with no ready endpoints does.
	noTargetsOK bool
}

func (k *checker) errorf(path string, err error, format string, args ...any) {
	e := &Error{File: k.file, Path: path, Msg: fmt.Sprintf(format, args...), Err: err}
	if p, ok := k.lookup(path); ok {
		e.Line, e.Column = p.line, p.col
	}
	k.errs = append(k.errs, e)
}

// referrorf records a problem with a reference.
func (k *checker) referrorf(path string, err error, format string, args ...any) {
	k.errorf(path, err, format, args...)
	k.refs = append(k.refs, k.errs[len(k.errs)-1])
	k.errs = k.errs[:len(k.errs)-1]
}

// lookup finds the position of path, or of its nearest enclosing value.
func (k *checker) lookup(path string) (position, bool) {
	for {
		if p, ok := k.pos[path]; ok {
			return p, true
		}
		if path == "" {
			return position{}, false
		}
		path = path[:max(strings.LastIndexAny(path, ".["), 0)]
	}
}

// where names path for a message: "line 12" or the path itself.
func (k *checker) where(path string) string {
	if p, ok := k.lookup(path); ok {
		return "line " + strconv.Itoa(p.line)
	}
	return path
}

// first returns the problem that comes first in the file, or the first found.
func (k *checker) first() error {
	errs := k.errs
	if len(errs) == 0 {
		errs = k.refs
	}
	if len(errs) == 0 {
		return nil
	}
	best := errs[0]
	for _, e := range errs[1:] {
		if e.Line > 0 && (best.Line == 0 || e.Line < best.Line || e.Line == best.Line && e.Column < best.Column) {
			best = e
		}
	}
	return best
}

func (c *Config) check(file string, pos map[string]position) error {
	k := &checker{file: file, pos: pos, kube: c.Kubernetes}
	k.listen("listen", c.Listen, DefaultListen)
	if c.SSHListen != "" || k.has("ssh_listen") {
		k.listen("ssh_listen", c.SSHListen, "127.0.0.1:2222")
		// Port 0 is a port the OS picks, a different one for each.
		if c.SSHListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			k.errorf("ssh_listen", nil, "ssh_listen %q is the same address as listen: give the SSH listener a port of its own, like 2222", c.SSHListen)
		}
	}
	if c.MetricsListen != "" || k.has("metrics_listen") {
		k.listen("metrics_listen", c.MetricsListen, "127.0.0.1:9090")
		for _, other := range []struct{ key, addr string }{{"listen", c.Listen}, {"ssh_listen", c.SSHListen}} {
			if sameAddress(c.MetricsListen, other.addr) {
				k.errorf("metrics_listen", nil, "metrics_listen %q is the same address as %s: give health and metrics a port of their own, like 9090", c.MetricsListen, other.key)
				break
			}
		}
	}
	k.tls(c.TLS)
	k.tokens(c.Tokens, c.Users, &c.Catalog)
	k.users(c)
	k.suffixes(c.HostnameSuffixes)
	k.catalog(&c.Catalog, c.HostnameSuffixes)
	k.kubernetes(c)
	k.secrets(c.Secrets)
	k.envs(&c.Catalog, c.Secrets)
	k.limits(c.Limits)
	k.expose(c)
	return k.first()
}

// sameAddress reports whether listening on a and on b would collide: the
// same port on the same host, or on every interface (an empty host,
// 0.0.0.0 or ::). Port 0 is a port the OS picks, a different one for each.
func sameAddress(a, b string) bool {
	ah, ap, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	bh, bp, err := net.SplitHostPort(b)
	if err != nil || ap != bp || ap == "0" {
		return false
	}
	every := func(h string) bool {
		ip, err := netip.ParseAddr(h)
		return h == "" || err == nil && ip.IsUnspecified()
	}
	return ah == bh || every(ah) || every(bh)
}

// listen checks a listen address under key; example is a good value.
func (k *checker) listen(key, s, example string) {
	if s == "" {
		k.errorf(key, nil, "%s is empty: use host:port, like %s, or remove it", key, example)
		return
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		_, p, _ := net.SplitHostPort(example)
		k.errorf(key, err, "%s %q is not host:port: use e.g. %s, or :%s for every interface", key, s, example, p)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		k.errorf(key, err, "%s port %q is not a number: use 1-65535 (0 picks a free port)", key, port)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			if p := hostnameProblem(host, false); p != "" {
				k.errorf(key, nil, "%s host %q is not an IP address or host name: it %s", key, host, p)
			}
		}
	}
}

// has reports whether the file set key (always false for a Config built
// in code, which has no positions).
func (k *checker) has(key string) bool {
	_, ok := k.pos[key]
	return ok
}

func (k *checker) tls(t TLS) {
	switch {
	case t.Cert != "" && t.Key == "":
		k.errorf("tls", nil, "tls has a cert but no key: add key: <file>, or remove tls for a self-signed certificate")
	case t.Cert == "" && t.Key != "":
		k.errorf("tls", nil, "tls has a key but no cert: add cert: <file>, or remove tls for a self-signed certificate")
	}
}

var emptySHA256 = sha256.Sum256(nil)

func (k *checker) tokens(tokens []tunnel.Token, users []tunnel.User, cat *catalog.Catalog) {
	if len(tokens) == 0 && len(users) == 0 {
		k.errorf("tokens", nil, "no tokens and no users, so nobody can connect: add one under tokens: with name, sha256 and projects, or under users: with name, ssh_keys and projects")
		return
	}
	names := map[string]string{}
	sums := map[[32]byte]string{}
	for i, t := range tokens {
		path := "tokens[" + strconv.Itoa(i) + "]"
		switch {
		case t.Name == "":
			k.errorf(path+".name", nil, "token has no name: add name: <who or what it is for>")
		case len(t.Name) > 128:
			k.errorf(path+".name", nil, "token name is %d characters long: use at most 128", len(t.Name))
		case strings.IndexFunc(t.Name, unicode.IsControl) >= 0:
			k.errorf(path+".name", nil, "token name %q contains a control character: remove it", t.Name)
		default:
			if first, ok := names[t.Name]; ok {
				k.errorf(path+".name", nil, "token name %q is used twice (first at %s): names must be unique", t.Name, k.where(first))
			} else {
				names[t.Name] = path
			}
		}
		switch first, dup := sums[t.SHA256]; {
		case t.SHA256 == [32]byte{}:
			k.errorf(path+".sha256", nil, "token %q has no sha256: add sha256: <hex SHA-256 of the token>", t.Name)
		case t.SHA256 == emptySHA256:
			k.errorf(path+".sha256", nil, "token %q: sha256 is the hash of an empty token: hash the token itself", t.Name)
		case dup:
			k.errorf(path+".sha256", nil, "token %q has the same sha256 as the token at %s: each token must be different", t.Name, k.where(first))
		default:
			sums[t.SHA256] = path
		}
		k.projectRefs(path, "token", t.Name, t.Projects, cat)
	}
}

// projectRefs checks the projects a token or user (what) named name is
// scoped to: at least one, each in the catalog or "*".
func (k *checker) projectRefs(path, what, name string, projects []string, cat *catalog.Catalog) {
	if len(projects) == 0 {
		k.errorf(path+".projects", nil, `%s %q has no projects: add projects: [%s] or ["*"] for all`, what, name, exampleProject(cat))
	}
	if k.kube != nil {
		k.kubernetesProjectRefs(path, what, name, projects)
		return
	}
	for j, p := range projects {
		if _, err := cat.Project(p); p != "*" && err != nil {
			k.referrorf(path+".projects["+strconv.Itoa(j)+"]", nil, `%s %q names unknown project %q: use one of %s, or "*" for all`, what, name, p, projectList(cat))
		}
	}
}

func exampleProject(cat *catalog.Catalog) string {
	if len(cat.Projects) > 0 && cat.Projects[0].Name != "" {
		return cat.Projects[0].Name
	}
	return "shop"
}

func projectList(cat *catalog.Catalog) string {
	var names []string
	for _, name := range cat.ProjectNames() {
		if name != "" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "the projects under projects: (there are none yet)"
	}
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return strings.Join(names, ", ")
}

// suffixes checks hostname_suffixes: DNS names, each once, none that only
// reserved names could end in.
func (k *checker) suffixes(suffixes []string) {
	seen := map[string]string{}
	for i, s := range suffixes {
		path := "hostname_suffixes[" + strconv.Itoa(i) + "]"
		if n := normalizeSuffix(s); n != s {
			// Parse normalizes them; a Config built in code may not be.
			k.errorf(path, nil, "hostname suffix %q must be in lower case without a leading dot: write %q", s, n)
			continue
		}
		if _, err := netip.ParseAddr(s); err == nil {
			k.errorf(path, nil, "hostname suffix %q is an IP address: list DNS suffixes, like svc.cluster.local", s)
			continue
		}
		if p := hostnameProblem(s, false); p != "" {
			k.errorf(path, nil, "hostname suffix %q %s", s, p)
			continue
		}
		if ReservedHostname(s) {
			k.errorf(path, nil, "hostname suffix %q is reserved: %s; remove it", s, reservedNames)
			continue
		}
		if first, ok := seen[s]; ok {
			k.errorf(path, nil, "hostname suffix %q is listed twice (first at %s): remove one", s, k.where(first))
			continue
		}
		seen[s] = path
	}
}

// reservedNames describes ReservedHostname for messages.
const reservedNames = "localhost, *.localhost, localhost.*, ip6-* and broadcasthost belong to the system's hosts file"

func (k *checker) catalog(cat *catalog.Catalog, suffixes []string) {
	projects := map[string]string{}
	// hosts maps every hostname (lowercase) to the resource it reaches. The
	// <name>.<project> names come first, so that an explicit hostname that
	// takes one is caught wherever it is.
	hosts := map[string]string{}
	for _, p := range cat.Projects {
		for _, r := range p.All() {
			if labelProblem(r.Name) == "" && labelProblem(p.Name) == "" {
				hosts[r.Name+"."+p.Name] = fmt.Sprintf("%s %q of project %q", r.Kind, r.Name, p.Name)
			}
		}
	}
	for i, p := range cat.Projects {
		path := "projects[" + strconv.Itoa(i) + "]"
		if k.label(path+".name", "project", p.Name) {
			if first, ok := projects[p.Name]; ok {
				k.errorf(path+".name", nil, "project %q is defined twice (first at %s): merge them or rename one", p.Name, k.where(first))
			} else {
				projects[p.Name] = path
			}
		}
		names := map[string]catalog.Resource{}
		paths := map[string]string{}
		for _, kind := range []catalog.Kind{catalog.Service, catalog.Addon} {
			for j, r := range p.Resources(kind) {
				rpath := path + "." + string(kind) + "s[" + strconv.Itoa(j) + "]"
				switch {
				case r.Kind != kind:
					k.errorf(rpath, nil, "%s %q has Kind %q: set it to %q", kind, r.Name, r.Kind, kind)
				case r.Project != p.Name:
					k.errorf(rpath, nil, "%s %q has Project %q: set it to %q", kind, r.Name, r.Project, p.Name)
				}
				if k.label(rpath+".name", string(kind), r.Name) {
					if first, ok := names[r.Name]; ok {
						if first.Kind == kind {
							k.errorf(rpath+".name", nil, "%s %q is defined twice in project %q (first at %s): merge them or rename one",
								kind, r.Name, p.Name, k.where(paths[r.Name]))
						} else {
							k.errorf(rpath+".name", nil, "%s %q has the name of %s %q (at %s): both would be reachable as %s.%s; rename one",
								kind, r.Name, first.Kind, r.Name, k.where(paths[r.Name]), r.Name, p.Name)
						}
					} else {
						names[r.Name], paths[r.Name] = r, rpath
					}
				}
				k.hostnames(rpath, r, hosts, suffixes)
				k.ports(rpath, r)
			}
		}
	}
}

// label checks a name that becomes a DNS label, reporting whether it is good.
func (k *checker) label(path, what, name string) bool {
	if name == "" {
		k.errorf(path, nil, "%s has no name: add name: <lowercase letters, digits and '-'>", what)
		return false
	}
	if p := labelProblem(name); p != "" {
		k.errorf(path, nil, "%s name %q %s (names become hostnames)", what, name, p)
		return false
	}
	return true
}

func (k *checker) hostnames(path string, r catalog.Resource, hosts map[string]string, suffixes []string) {
	owner := fmt.Sprintf("%s %q of project %q", r.Kind, r.Name, r.Project)
	seen := map[string]bool{}
	for i, h := range r.Hostnames {
		hpath := path + ".hostnames[" + strconv.Itoa(i) + "]"
		if _, err := netip.ParseAddr(h); err == nil {
			k.errorf(hpath, nil, "hostname %q is an IP address: list names here; the address is chosen by the client", h)
			continue
		}
		if p := hostnameProblem(h, false); p != "" {
			k.errorf(hpath, nil, "hostname %q %s", h, p)
			continue
		}
		if ReservedHostname(h) {
			k.errorf(hpath, nil, "hostname %q is reserved: %s; choose another name", h, reservedNames)
			continue
		}
		lower := strings.ToLower(h)
		if seen[lower] {
			k.errorf(hpath, nil, "hostname %q is listed twice: remove one", h)
			continue
		}
		seen[lower] = true
		if other, ok := hosts[lower]; ok && other != owner {
			k.errorf(hpath, nil, "hostname %q already reaches %s: a hostname can lead to one service or addon only", h, other)
			continue
		}
		hosts[lower] = owner
		k.suffix(hpath, h, suffixes)
	}
}

// suffix checks that hostname h ends in one of suffixes. That is a reference
// to hostname_suffixes, so a problem there is reported first: a misspelt
// suffix would make every hostname under it look wrong.
func (k *checker) suffix(path, h string, suffixes []string) {
	if MatchesSuffix(h, suffixes) {
		return
	}
	if len(suffixes) == 0 {
		k.referrorf(path, nil, "hostname %q needs hostname_suffixes: declare the suffix it ends in, e.g. hostname_suffixes: [%s]", h, parentDomain(h))
		return
	}
	list := suffixes
	if len(list) > 10 {
		list = append(list[:10:10], "...")
	}
	k.referrorf(path, nil, "hostname %q does not end in any of hostname_suffixes (%s): add its suffix to hostname_suffixes, or remove it",
		h, strings.Join(list, ", "))
}

// parentDomain returns h without its first label, in lower case, or h if it
// has one label only: the likeliest suffix for a hostname.
func parentDomain(h string) string {
	h = strings.ToLower(h)
	if _, parent, ok := strings.Cut(h, "."); ok {
		return parent
	}
	return h
}

func (k *checker) ports(path string, r catalog.Resource) {
	if len(r.Ports) == 0 {
		k.errorf(path, nil, "%s %q has no ports: add ports: [{port: 8080, targets: [10.0.0.5:8080]}]", r.Kind, r.Name)
		return
	}
	type key struct {
		port    uint16
		network string
	}
	numbers := map[key]string{}
	names := map[string]string{}
	for i, p := range r.Ports {
		ppath := path + ".ports[" + strconv.Itoa(i) + "]"
		if p.Name != "" {
			if prob := labelProblem(p.Name); prob != "" {
				k.errorf(ppath+".name", nil, "port name %q %s", p.Name, prob)
			} else if first, ok := names[p.Name]; ok {
				k.errorf(ppath+".name", nil, "port name %q is used twice in %s %q (first at %s): rename one", p.Name, r.Kind, r.Name, k.where(first))
			} else {
				names[p.Name] = ppath
			}
		}
		if proto, err := catalog.ParseProtocol(string(p.Protocol)); err != nil || proto != p.Protocol {
			k.errorf(ppath+".protocol", err, "protocol %q is not one of HTTP, HTTP2, TCP or UDP", p.Protocol)
		}
		if p.Port == 0 {
			k.errorf(ppath+".port", nil, "port has no number: add port: 1-65535")
		} else {
			network := p.Protocol.Network()
			if first, ok := numbers[key{p.Port, network}]; ok {
				k.errorf(ppath+".port", nil, "%s port %d is listed twice in %s %q (first at %s): remove one or change its number",
					strings.ToUpper(network), p.Port, r.Kind, r.Name, k.where(first))
			} else {
				numbers[key{p.Port, network}] = ppath
			}
		}
		if len(p.Targets) == 0 && !k.noTargetsOK {
			k.errorf(ppath+".targets", nil, "port %d has no targets: add targets: [host:port, ...], the private addresses the gateway dials", p.Port)
		}
		seen := map[string]bool{}
		for j, t := range p.Targets {
			tpath := ppath + ".targets[" + strconv.Itoa(j) + "]"
			if prob := targetProblem(t); prob != "" {
				k.errorf(tpath, nil, "target %q %s", t, prob)
			} else if seen[t] {
				k.errorf(tpath, nil, "target %q is listed twice for port %d: remove one", t, p.Port)
			}
			seen[t] = true
		}
	}
}

func (k *checker) limits(l tunnel.Limits) {
	if l.MaxSessions < 1 {
		k.errorf("limits.max_sessions", nil, "max_sessions is %d: use 1 or more", l.MaxSessions)
	}
	if l.MaxStreamsPerSession < 1 {
		k.errorf("limits.max_streams_per_session", nil, "max_streams_per_session is %d: use 1 or more", l.MaxStreamsPerSession)
	}
	if l.DialTimeout <= 0 {
		k.errorf("limits.dial_timeout", nil, "dial_timeout is %s: use a positive duration like 5s", l.DialTimeout)
	}
	if l.IdleTimeout < 0 {
		k.errorf("limits.idle_timeout", nil, "idle_timeout is %s: use a positive duration, or 0 to never cut idle streams", l.IdleTimeout)
	}
	if l.UDPFlowIdle <= 0 {
		k.errorf("limits.udp_flow_idle", nil, "udp_flow_idle is %s: use a positive duration like 60s", l.UDPFlowIdle)
	}
	if l.ShutdownGrace <= 0 {
		k.errorf("limits.shutdown_grace", nil, "shutdown_grace is %s: use a positive duration like 10s", l.ShutdownGrace)
	}
	k.handshakes(l)
}

func (k *checker) handshakes(l tunnel.Limits) {
	if l.MaxHandshakes < 1 {
		k.errorf("limits.max_handshakes", nil, "max_handshakes is %d: use 1 or more", l.MaxHandshakes)
	}
	if l.MaxHandshakesPerSource < 1 {
		k.errorf("limits.max_handshakes_per_source", nil, "max_handshakes_per_source is %d: use 1 or more", l.MaxHandshakesPerSource)
		return
	}
	if l.MaxHandshakes < 1 || l.MaxHandshakesPerSource <= l.MaxHandshakes {
		return
	}
	if _, set := k.pos["limits.max_handshakes_per_source"]; !set && k.pos != nil {
		// Only max_handshakes is in the file: it is what to point at.
		k.errorf("limits.max_handshakes", nil, "max_handshakes %d is less than max_handshakes_per_source, %d by default: raise max_handshakes to %d or more, or set max_handshakes_per_source to at most %d",
			l.MaxHandshakes, l.MaxHandshakesPerSource, l.MaxHandshakesPerSource, l.MaxHandshakes)
		return
	}
	k.errorf("limits.max_handshakes_per_source", nil, "max_handshakes_per_source %d is more than max_handshakes %d: set it to at most %d, or raise max_handshakes",
		l.MaxHandshakesPerSource, l.MaxHandshakes, l.MaxHandshakes)
}

// labelProblem says what keeps name from being a DNS label, or "".
func labelProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 63:
		return fmt.Sprintf("is %d characters long: use at most 63", len(name))
	}
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-':
		case 'A' <= r && r <= 'Z':
			return fmt.Sprintf("has capital letters: use %q", strings.ToLower(name))
		default:
			return fmt.Sprintf("contains %q: use lowercase letters, digits and '-'", r)
		}
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return "starts or ends with '-': use a letter or digit there"
	}
	return ""
}

// hostnameProblem says what keeps h from being a DNS name, or "". A target
// may end in a dot and have underscores (as Docker's names do).
func hostnameProblem(h string, target bool) string {
	if target {
		h = strings.TrimSuffix(h, ".")
	}
	switch {
	case h == "":
		return "is empty"
	case len(h) > 253:
		return fmt.Sprintf("is %d characters long: use at most 253", len(h))
	}
	for _, label := range strings.Split(h, ".") {
		switch {
		case label == "":
			return "has an empty part between dots: remove the extra dot"
		case len(label) > 63:
			return fmt.Sprintf("has a part %d characters long: use at most 63 between dots", len(label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return "has a part that starts or ends with '-'"
		}
		for _, r := range label {
			switch {
			case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-':
			case r == '_' && target:
			default:
				return fmt.Sprintf("contains %q: use letters, digits, '-' and '.'", r)
			}
		}
	}
	return ""
}

// targetProblem says what is wrong with a target address, or "".
func targetProblem(t string) string {
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		if strings.Count(t, ":") > 1 && !strings.HasPrefix(t, "[") {
			return "is not host:port: put IPv6 addresses in brackets, like [fd00::5]:5432"
		}
		return "is not host:port: write it like 10.0.0.5:5432 or db.internal:5432"
	}
	if host == "" {
		return "has no host: write it like 10.0.0.5:" + port
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Sprintf("has port %q: use a number 1-65535", port)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if p := hostnameProblem(host, true); p != "" {
		return fmt.Sprintf("has host %q that is not an IP address or DNS name: it %s", host, p)
	}
	return ""
}

// secrets checks that each secret says where its value comes from, once.
func (k *checker) secrets(secrets map[string]tunnel.SecretSource) {
	for _, name := range sortedNames(secrets) {
		path := "secrets." + name
		switch src := secrets[name]; {
		case src.Env == "" && src.File == "":
			k.errorf(path, nil, "secret %q says neither env nor file: give one, like {env: DB_PASSWORD}", name)
		case src.Env != "" && src.File != "":
			k.errorf(path, nil, "secret %q has both env and file: keep one", name)
		case src.Env != "" && !envName.MatchString(src.Env):
			k.errorf(path+".env", nil, "secret %q: %q is not an environment variable name: use letters, digits and _", name, src.Env)
		}
	}
}

// envName is what a variable's name may be, in env: keys and secret
// sources: what every shell accepts.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envs checks every resource's env templates: good names, templates that
// parse, secrets that are defined, ports that exist. Each is rendered
// once with stand-in values, so a mistake shows here, not in a user's
// shell.
func (k *checker) envs(cat *catalog.Catalog, secrets map[string]tunnel.SecretSource) {
	for i, p := range cat.Projects {
		for _, kind := range []catalog.Kind{catalog.Service, catalog.Addon} {
			for j, r := range p.Resources(kind) {
				rpath := "projects[" + strconv.Itoa(i) + "]." + string(kind) + "s[" + strconv.Itoa(j) + "].env"
				for _, key := range sortedNames(r.Env) {
					k.env(rpath+"."+key, r, key, secrets)
				}
			}
		}
	}
}

func (k *checker) env(path string, r catalog.Resource, key string, secrets map[string]tunnel.SecretSource) {
	if !envName.MatchString(key) {
		k.errorf(path, nil, "env %q is not a variable name: use letters, digits and _, not starting with a digit", key)
		return
	}
	used, err := catalog.SecretsIn(key, r.Env[key])
	if err != nil {
		k.errorf(path, err, "env %s: %v", key, err)
		return
	}
	standIn := map[string]string{}
	for _, name := range used {
		if _, ok := secrets[name]; !ok {
			k.errorf(path, nil, "env %s uses secret %q, which secrets: does not define: add it, like secrets: {%s: {env: VAR}}", key, name, name)
			return
		}
		standIn[name] = "x"
	}
	ports := map[string]int{}
	for _, p := range r.Ports {
		ports[strconv.Itoa(int(p.Port))] = int(p.Port)
		if p.Name != "" {
			ports[p.Name] = int(p.Port)
		}
	}
	probe := r
	probe.Env, probe.Secrets = map[string]string{key: r.Env[key]}, standIn
	if _, err := catalog.RenderEnv(probe, catalog.NewEnvData(r.Project, r.Name, "127.0.0.1", r.Name, ports)); err != nil {
		k.errorf(path, err, "env %s: %s", key, strings.TrimPrefix(err.Error(), r.ID().String()+" "+key+": "))
	}
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
