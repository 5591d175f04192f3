package forward

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// Env returns the environment variables of every current forward, sorted
// by name:
//   - for each port, FWD_<PROJECT>_<NAME>_<PORT>_HOST, _PORT and _ADDR:
//     its local address, its local port (the real one, even when it had to
//     move) and both as host:port, where <PORT> is the port's name (or
//     number) and every name is upper-cased with other characters made _;
//   - each service's and addon's env templates from the catalog
//     (connection details, see catalog.EnvData), rendered for this
//     machine with the secrets the gateway sent.
//
// A template that cannot be rendered is an error naming it; the other
// variables are returned with it.
func (c *Client) Env() ([]catalog.EnvVar, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var vars []catalog.EnvVar
	var errs []error
	for _, id := range c.order {
		f := c.active[id]
		vars = append(vars, f.portVars()...)
		rendered, err := catalog.RenderEnv(f.res, f.envData())
		if err != nil {
			errs = append(errs, err)
		}
		vars = append(vars, rendered...)
	}
	sort.SliceStable(vars, func(i, j int) bool { return vars[i].Key < vars[j].Key })
	return vars, errors.Join(errs...)
}

// portVars are the FWD_* variables of f's listening ports.
func (f *resourceForward) portVars() []catalog.EnvVar {
	var out []catalog.EnvVar
	for _, pf := range f.ports {
		if pf.err != nil {
			continue
		}
		name := pf.port.Name
		if name == "" {
			name = strconv.Itoa(int(pf.port.Port))
		}
		prefix := envKey("FWD", f.res.Project, f.res.Name, name)
		host, port := pf.local.Addr().String(), strconv.Itoa(int(pf.local.Port()))
		out = append(out,
			catalog.EnvVar{Key: prefix + "_HOST", Value: host},
			catalog.EnvVar{Key: prefix + "_PORT", Value: port},
			catalog.EnvVar{Key: prefix + "_ADDR", Value: pf.local.String()})
	}
	return out
}

// envData is what f's env templates see: its local address, first
// hostname, and local ports by name and by catalog number.
func (f *resourceForward) envData() catalog.EnvData {
	ports := map[string]int{}
	for _, pf := range f.ports {
		if pf.err != nil {
			continue
		}
		ports[strconv.Itoa(int(pf.port.Port))] = int(pf.local.Port())
		if pf.port.Name != "" {
			ports[pf.port.Name] = int(pf.local.Port())
		}
	}
	addr := f.address().String()
	host := addr
	f.mu.Lock()
	if len(f.hostnames) > 0 {
		host = f.hostnames[0]
	}
	f.mu.Unlock()
	return catalog.NewEnvData(f.res.Project, f.res.Name, addr, host, ports)
}

// envKey joins parts into a variable name: upper case, and anything but a
// letter or digit made _.
func envKey(parts ...string) string {
	k := strings.ToUpper(strings.Join(parts, "_"))
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, k)
}
