// Package catalog describes what a gateway can forward: projects, their
// services and addons, and each one's ports with the private targets behind
// them. The gateway holds the full catalog; clients receive a copy without
// targets, filtered to the projects their token may see.
package catalog

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
)

// Protocol is a port's application protocol, as the seeds name them.
type Protocol string

// The protocols a port may carry. HTTP, HTTP2 and TCP are all forwarded as TCP
// streams; UDP ports are forwarded as datagram flows.
const (
	HTTP  Protocol = "HTTP"
	HTTP2 Protocol = "HTTP2"
	TCP   Protocol = "TCP"
	UDP   Protocol = "UDP"
)

// ParseProtocol accepts a protocol name in any case.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToUpper(strings.TrimSpace(s))); p {
	case HTTP, HTTP2, TCP, UDP:
		return p, nil
	case "HTTP/2", "H2", "GRPC":
		return HTTP2, nil
	}
	return "", fmt.Errorf("unknown protocol %q: use HTTP, HTTP2, TCP or UDP", s)
}

// Network is the transport a protocol travels on: "tcp" or "udp".
func (p Protocol) Network() string {
	if p == UDP {
		return "udp"
	}
	return "tcp"
}

// Kind tells a service from an addon.
type Kind string

// The two kinds of forwardable resource.
const (
	Service Kind = "service"
	Addon   Kind = "addon"
)

// Port is one port of a resource.
type Port struct {
	Name     string   `json:"name,omitempty"`
	Port     uint16   `json:"port"`
	Protocol Protocol `json:"protocol"`
	// Targets are host:port addresses inside the private network. Only the
	// gateway's catalog has them; the copy sent to clients leaves them out.
	Targets []string `json:"targets,omitempty"`
}

// Resource is a service or an addon.
type Resource struct {
	Kind      Kind     `json:"kind"`
	Project   string   `json:"project"`
	Name      string   `json:"name"`
	Hostnames []string `json:"hostnames,omitempty"`
	Ports     []Port   `json:"ports"`
	// Env holds templates of the resource's connection details, by
	// variable name (see RenderEnv), such as
	// postgres://app:{{secret "db_password"}}@{{.Address}}:{{.Port "postgres"}}/app.
	Env map[string]string `json:"env,omitempty"`
	// Secrets are the values of the secrets Env uses. Only the copy a
	// gateway sends to a token that may see the project has them; the
	// gateway's own catalog names where secrets come from instead.
	Secrets map[string]string `json:"secrets,omitempty"`
}

// ID names a resource within a catalog.
type ID struct {
	Project string
	Kind    Kind
	Name    string
}

// ID returns the resource's identity.
func (r *Resource) ID() ID { return ID{r.Project, r.Kind, r.Name} }

// String returns "project/name" for services and "project/addon:name" for
// addons, the form used in log lines.
func (id ID) String() string {
	if id.Kind == Addon {
		return id.Project + "/addon:" + id.Name
	}
	return id.Project + "/" + id.Name
}

// Project groups services and addons.
type Project struct {
	Name     string     `json:"name"`
	Services []Resource `json:"services,omitempty"`
	Addons   []Resource `json:"addons,omitempty"`
}

// Catalog is the set of projects a gateway serves.
type Catalog struct {
	Projects []Project `json:"projects"`
}

// Errors returned by lookups. The error's text names what was asked for and
// what exists, ready for users; test for these with errors.Is.
var (
	ErrUnknownProject  = errors.New("catalog: unknown project")
	ErrUnknownResource = errors.New("catalog: unknown service or addon")
	ErrUnknownPort     = errors.New("catalog: unknown port")
)

// Project returns the named project.
func (c *Catalog) Project(name string) (*Project, error) {
	for i := range c.Projects {
		if c.Projects[i].Name == name {
			return &c.Projects[i], nil
		}
	}
	return nil, &lookupError{ErrUnknownProject, fmt.Sprintf("unknown project %q (projects: %s)", name, list(c.ProjectNames()))}
}

// ProjectNames lists the projects in catalog order.
func (c *Catalog) ProjectNames() []string {
	names := make([]string, len(c.Projects))
	for i, p := range c.Projects {
		names[i] = p.Name
	}
	return names
}

// Resources returns the project's resources of one kind.
func (p *Project) Resources(kind Kind) []Resource {
	if kind == Addon {
		return p.Addons
	}
	return p.Services
}

// All returns the project's services followed by its addons.
func (p *Project) All() []Resource {
	all := make([]Resource, 0, len(p.Services)+len(p.Addons))
	all = append(all, p.Services...)
	return append(all, p.Addons...)
}

// Resource returns the project's service or addon with that name.
func (p *Project) Resource(kind Kind, name string) (*Resource, error) {
	rs := p.Resources(kind)
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i], nil
		}
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return nil, &lookupError{ErrUnknownResource, fmt.Sprintf("project %q has no %s %q (%ss: %s)", p.Name, kind, name, kind, list(names))}
}

// Lookup finds one resource.
func (c *Catalog) Lookup(id ID) (*Resource, error) {
	p, err := c.Project(id.Project)
	if err != nil {
		return nil, err
	}
	return p.Resource(id.Kind, id.Name)
}

// Port returns the resource's port with that number and network.
func (r *Resource) Port(number uint16, network string) (*Port, error) {
	for i := range r.Ports {
		if r.Ports[i].Port == number && r.Ports[i].Protocol.Network() == network {
			return &r.Ports[i], nil
		}
	}
	return nil, &lookupError{ErrUnknownPort, fmt.Sprintf("%s has no %s port %d", r.ID(), network, number)}
}

// Filter returns a copy of the catalog holding only the projects allowed
// reports true for, with targets removed: what a client may see.
func (c *Catalog) Filter(allowed func(project string) bool) Catalog {
	out := Catalog{}
	for _, p := range c.Projects {
		if !allowed(p.Name) {
			continue
		}
		out.Projects = append(out.Projects, Project{
			Name:     p.Name,
			Services: withoutTargets(p.Services),
			Addons:   withoutTargets(p.Addons),
		})
	}
	return out
}

func withoutTargets(rs []Resource) []Resource {
	if rs == nil {
		return nil
	}
	out := make([]Resource, len(rs))
	for i, r := range rs {
		r.Hostnames = append([]string(nil), r.Hostnames...)
		r.Env = maps.Clone(r.Env)
		r.Secrets = nil // a gateway adds those it may send
		ports := make([]Port, len(r.Ports))
		for j, p := range r.Ports {
			p.Targets = nil
			ports[j] = p
		}
		r.Ports = ports
		out[i] = r
	}
	return out
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// lookupError reads well on its own ("unknown project "x" (projects: a, b)")
// while errors.Is still finds the sentinel.
type lookupError struct {
	sentinel error
	msg      string
}

func (e *lookupError) Error() string        { return e.msg }
func (e *lookupError) Is(target error) bool { return target == e.sentinel }
