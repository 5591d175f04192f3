package kubecatalog

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func TestProtocol(t *testing.T) {
	for _, tc := range []struct {
		proto corev1.Protocol
		app   *string
		want  string
		ok    bool
	}{
		{corev1.ProtocolTCP, nil, TCP, true},
		{"", nil, TCP, true},
		{corev1.ProtocolTCP, ptr("http"), HTTP, true},
		{corev1.ProtocolTCP, ptr("HTTP"), HTTP, true},
		{corev1.ProtocolTCP, ptr("h2c"), HTTP2, true},
		{corev1.ProtocolTCP, ptr("kubernetes.io/h2c"), HTTP2, true},
		{corev1.ProtocolTCP, ptr("grpc"), HTTP2, true},
		{corev1.ProtocolTCP, ptr("https"), TCP, true},
		{corev1.ProtocolTCP, ptr("postgresql"), TCP, true},
		{corev1.ProtocolUDP, nil, UDP, true},
		{corev1.ProtocolUDP, ptr("http"), UDP, true},
		{corev1.ProtocolSCTP, nil, "", false},
	} {
		got, ok := protocol(corev1.ServicePort{Protocol: tc.proto, AppProtocol: tc.app})
		if got != tc.want || ok != tc.ok {
			app := "<nil>"
			if tc.app != nil {
				app = *tc.app
			}
			t.Errorf("protocol(%s, appProtocol %s) = %q, %v; want %q, %v", tc.proto, app, got, ok, tc.want, tc.ok)
		}
	}
}

func slice(name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func endpoint(ready *bool, addrs ...string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

// TestConvert: ports by name across slices, each slice with its own port
// number, not-ready endpoints left out, nil ready taken as ready, targets
// sorted and each once.
func TestConvert(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop", Labels: map[string]string{KindLabel: KindAddon}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, AppProtocol: ptr("http")},
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			{Name: "sctp", Port: 9, Protocol: corev1.ProtocolSCTP},
			{Name: "all", Port: 7000, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(7001)},
			{Name: "none", Port: 6000, Protocol: corev1.ProtocolTCP},
		}},
	}
	a := slice("api-a", []discoveryv1.EndpointPort{
		{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)},
		{Name: ptr("dns"), Port: ptr(int32(5353)), Protocol: ptr(corev1.ProtocolUDP)},
		{Name: ptr("all"), Protocol: ptr(corev1.ProtocolTCP)},
	}, endpoint(ptr(true), "10.0.0.9"), endpoint(nil, "10.0.0.3"), endpoint(ptr(false), "10.0.0.1"))
	b := slice("api-b", []discoveryv1.EndpointPort{
		{Name: ptr("http"), Port: ptr(int32(8081)), Protocol: ptr(corev1.ProtocolTCP)},
		// The same name on another protocol serves no TCP port.
		{Name: ptr("none"), Port: ptr(int32(6000)), Protocol: ptr(corev1.ProtocolUDP)},
	}, endpoint(ptr(true), "10.0.0.2", "10.0.0.9"), endpoint(ptr(true), "10.0.0.2"))
	got, skipped := convert(svc, []*discoveryv1.EndpointSlice{a, b})
	want := Service{Namespace: "shop", Name: "api", Addon: true,
		Hostnames: []string{"api.shop.svc.cluster.local", "api.shop.svc"},
		Ports: []Port{
			{Name: "http", Port: 80, Protocol: HTTP, Targets: []string{"10.0.0.2:8081", "10.0.0.3:8080", "10.0.0.9:8080", "10.0.0.9:8081"}},
			{Name: "dns", Port: 53, Protocol: UDP, Targets: []string{"10.0.0.3:5353", "10.0.0.9:5353"}},
			{Name: "all", Port: 7000, Protocol: TCP, Targets: []string{"10.0.0.3:7001", "10.0.0.9:7001"}},
			{Name: "none", Port: 6000, Protocol: TCP},
		}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("convert:\n got %+v\nwant %+v", got, want)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "port sctp (SCTP") {
		t.Errorf("skipped = %q, want the SCTP port", skipped)
	}
}

// TestConvertUnnamed: a Service's one unnamed port is named by its number,
// and found in slices by the empty name.
func TestConvertUnnamed(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432, Protocol: corev1.ProtocolTCP}}}}
	sl := slice("api-x", []discoveryv1.EndpointPort{{Port: ptr(int32(15432))}}, endpoint(nil, "10.0.0.7"))
	got, _ := convert(svc, []*discoveryv1.EndpointSlice{sl})
	if want := []Port{{Name: "5432", Port: 5432, Protocol: TCP, Targets: []string{"10.0.0.7:15432"}}}; !reflect.DeepEqual(got.Ports, want) {
		t.Errorf("ports %+v, want %+v", got.Ports, want)
	}
}

// recorder is a slog handler that keeps the messages it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// TestBuildLeavesOutAndLogsOnce: a Service that Check refuses, or that
// has no port fwd can carry, is left out and logged when its problem
// appears or changes, not at every build; the rest stays.
func TestBuildLeavesOutAndLogsOnce(t *testing.T) {
	rec := &recorder{}
	refuse := errors.New("name refused")
	b := &builder{log: slog.New(rec), check: func(s Service) error {
		if s.Name == "bad" {
			return refuse
		}
		return nil
	}}
	svc := func(name string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.ServiceSpec{Ports: ports}}
	}
	tcp := corev1.ServicePort{Name: "x", Port: 1, Protocol: corev1.ProtocolTCP}
	sctp := corev1.ServicePort{Name: "s", Port: 2, Protocol: corev1.ProtocolSCTP}
	all := []*corev1.Service{svc("good", tcp), svc("bad", tcp), svc("sctp", sctp), svc("mixed", tcp, sctp)}
	for range 3 {
		got := b.build(all, nil)
		var names []string
		for _, s := range got {
			names = append(names, s.Name)
		}
		if want := []string{"good", "mixed"}; !reflect.DeepEqual(names, want) {
			t.Fatalf("built %q, want %q", names, want)
		}
		if ports := got[1].Ports; len(ports) != 1 || ports[0].Name != "x" {
			t.Errorf("mixed has ports %+v, want x alone", ports)
		}
	}
	want := []string{
		"kubernetes: leaving out service shop/bad: name refused",
		"kubernetes: service shop/mixed: leaving out port s (SCTP, which fwd cannot forward)",
		"kubernetes: leaving out service shop/sctp: it has no TCP or UDP ports",
	}
	if got := rec.messages(); !reflect.DeepEqual(got, want) {
		t.Errorf("logged %q,\nwant each once: %q", got, want)
	}
	refuse = errors.New("name refused again")
	b.build(all, nil)
	if got := rec.messages(); len(got) != 4 || !strings.HasSuffix(got[3], "name refused again") {
		t.Errorf("a changed problem was not logged again: %q", got)
	}
}
