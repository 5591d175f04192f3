package kubecatalog

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// builder turns the informers' Services and EndpointSlices into what Run
// hands out, leaving out what cannot be forwarded.
type builder struct {
	check func(Service) error
	log   *slog.Logger
	// logged is the problem last logged for each Service, by ID, so that
	// a problem is logged when it appears or changes, not at every build.
	logged map[string]string
}

// build returns the Services, sorted by namespace and name.
func (b *builder) build(svcs []*corev1.Service, epSlices []*discoveryv1.EndpointSlice) []Service {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, sl := range epSlices {
		key := sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]
		bySvc[key] = append(bySvc[key], sl)
	}
	out := []Service{}
	problems := map[string]string{}
	for _, ks := range svcs {
		s, skipped := convert(ks, bySvc[ks.Namespace+"/"+ks.Name])
		if err := b.admit(s); err != nil {
			problems[s.ID()] = "kubernetes: leaving out service " + s.ID() + ": " + err.Error()
			continue
		}
		if len(skipped) > 0 {
			problems[s.ID()] = "kubernetes: service " + s.ID() + ": leaving out " + strings.Join(skipped, ", ")
		}
		out = append(out, s)
	}
	b.report(problems)
	sortServices(out)
	return out
}

// admit says why s cannot be handed out, or nil.
func (b *builder) admit(s Service) error {
	if len(s.Ports) == 0 {
		return errors.New("it has no TCP or UDP ports")
	}
	if b.check != nil {
		return b.check(s)
	}
	return nil
}

// report logs the problems that are new or changed since the last build.
func (b *builder) report(problems map[string]string) {
	for _, id := range slices.Sorted(maps.Keys(problems)) {
		if msg := problems[id]; b.logged[id] != msg {
			b.log.Warn(msg, "service", id)
		}
	}
	b.logged = problems
}

func sortServices(s []Service) {
	slices.SortFunc(s, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// convert maps a Service and its EndpointSlices, and says which ports it
// left out and why.
func convert(ks *corev1.Service, epSlices []*discoveryv1.EndpointSlice) (Service, []string) {
	s := Service{
		Namespace: ks.Namespace,
		Name:      ks.Name,
		Addon:     ks.Labels[KindLabel] == KindAddon,
		Hostnames: []string{ks.Name + "." + ks.Namespace + ".svc.cluster.local", ks.Name + "." + ks.Namespace + ".svc"},
	}
	var skipped []string
	for _, sp := range ks.Spec.Ports {
		proto, ok := protocol(sp)
		if !ok {
			skipped = append(skipped, fmt.Sprintf("port %s (%s, which fwd cannot forward)", portName(sp), sp.Protocol))
			continue
		}
		s.Ports = append(s.Ports, Port{Name: portName(sp), Port: uint16(sp.Port), Protocol: proto, Targets: targets(sp, epSlices)})
	}
	return s, skipped
}

// portName is the Service port's name, or its number if it has none (a
// Service with one port need not name it).
func portName(sp corev1.ServicePort) string {
	if sp.Name != "" {
		return sp.Name
	}
	return strconv.Itoa(int(sp.Port))
}

// protocol maps a Service port's protocol and appProtocol to the
// catalog's; SCTP has no counterpart.
func protocol(sp corev1.ServicePort) (string, bool) {
	switch sp.Protocol {
	case corev1.ProtocolUDP:
		return UDP, true
	case corev1.ProtocolTCP, "":
	default:
		return "", false
	}
	if sp.AppProtocol == nil {
		return TCP, true
	}
	switch strings.ToLower(*sp.AppProtocol) {
	case "http", "kubernetes.io/http":
		return HTTP, true
	case "h2c", "kubernetes.io/h2c", "grpc":
		return HTTP2, true
	}
	return TCP, true
}

// targets are the addresses of the ready endpoints behind sp, each at the
// port of its slice named as sp is, sorted and each once.
func targets(sp corev1.ServicePort, epSlices []*discoveryv1.EndpointSlice) []string {
	seen := map[string]bool{}
	for _, sl := range epSlices {
		port, ok := slicePort(sl, sp)
		if !ok {
			continue
		}
		for _, ep := range sl.Endpoints {
			// A nil ready condition means ready, as kube-proxy reads it.
			if r := ep.Conditions.Ready; r != nil && !*r {
				continue
			}
			for _, a := range ep.Addresses {
				seen[net.JoinHostPort(a, strconv.Itoa(int(port)))] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// slicePort is the port of sl that serves sp: the same name and protocol.
func slicePort(sl *discoveryv1.EndpointSlice, sp corev1.ServicePort) (int32, bool) {
	want := sp.Protocol
	if want == "" {
		want = corev1.ProtocolTCP
	}
	for _, p := range sl.Ports {
		name, proto := "", corev1.ProtocolTCP
		if p.Name != nil {
			name = *p.Name
		}
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if name != sp.Name || proto != want {
			continue
		}
		if p.Port == nil {
			// "All ports": the endpoint takes the Service's target port.
			if n := sp.TargetPort.IntValue(); n > 0 {
				return int32(n), true
			}
			return sp.Port, true
		}
		return *p.Port, true
	}
	return 0, false
}

func equal(a, b []Service) bool { return reflect.DeepEqual(a, b) }
