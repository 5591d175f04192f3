//go:build linux

package kubecatalog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/fwd-dev/fwd/internal/kubecatalog"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// The package's one API server, started by the first test that needs it
// and stopped by TestMain.
var (
	kubeOnce sync.Once
	kube     *fwdtest.Kube
	kubeErr  error
	kubeDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if kube != nil {
		if err := kube.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "kubecatalog: stopping the API server:", err)
		}
	}
	if kubeDir != "" {
		os.RemoveAll(kubeDir)
	}
	os.Exit(code)
}

// needKube returns the API server and an admin client, skipping the test
// when the binaries are not there.
func needKube(t *testing.T) (*fwdtest.Kube, kubernetes.Interface) {
	t.Helper()
	kubeOnce.Do(func() {
		if kubeDir, kubeErr = os.MkdirTemp("", "kubecatalog-"); kubeErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		kube, kubeErr = fwdtest.StartKube(ctx, kubeDir)
	})
	if errors.Is(kubeErr, fwdtest.ErrNotInstalled) {
		t.Skip(kubeErr)
	}
	if kubeErr != nil {
		t.Fatal(kubeErr)
	}
	admin, err := kube.Client(fwdtest.KubeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	return kube, admin
}

func ptr[T any](v T) *T { return &v }

var nsSeq atomic.Int64

// namespace creates a namespace of the test's own.
func namespace(t *testing.T, k *fwdtest.Kube, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, nsSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.CreateNamespace(ctx, name); err != nil {
		t.Fatal(err)
	}
	return name
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func createService(t *testing.T, c kubernetes.Interface, ns, name string, labels map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.ServiceSpec{Ports: ports}}
	svc, err := c.CoreV1().Services(ns).Create(ctx10(t), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func tcpPort(name string, port int32, app string) corev1.ServicePort {
	p := corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
	if app != "" {
		p.AppProtocol = ptr(app)
	}
	return p
}

func slicePort(name string, port int32, proto corev1.Protocol) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(port), Protocol: ptr(proto)}
}

func ready(ok bool, addrs ...string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ok)}}
}

func newSlice(ns, svc, name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func createSlice(t *testing.T, c kubernetes.Interface, sl *discoveryv1.EndpointSlice) {
	t.Helper()
	if _, err := c.DiscoveryV1().EndpointSlices(sl.Namespace).Create(ctx10(t), sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// follower runs a Source and keeps what it applies.
type follower struct {
	t       *testing.T
	applied chan []kubecatalog.Service
	count   atomic.Int64
	at      chan time.Time // when each apply came, beside applied
}

// follow runs a Source for cfg as user until the test ends; the first
// sync must come within 20 s.
func follow(t *testing.T, k *fwdtest.Kube, user string, cfg kubecatalog.Config) *follower {
	t.Helper()
	f, err := startFollow(t, k, user, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func startFollow(t *testing.T, k *fwdtest.Kube, user string, cfg kubecatalog.Config) (*follower, error) {
	t.Helper()
	path, err := k.Kubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kubeconfig = path
	src, err := kubecatalog.New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f := &follower{t: t, applied: make(chan []kubecatalog.Service, 1000), at: make(chan time.Time, 1000)}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Run(ctx, func(s []kubecatalog.Service) {
			f.count.Add(1)
			f.at <- time.Now()
			f.applied <- s
		})
	}()
	var ended atomic.Bool // Run returned before the test ended
	t.Cleanup(func() {
		cancel()
		if ended.Load() {
			return
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})
	select {
	case s := <-f.applied:
		f.applied <- s // for next
		f.at <- <-f.at
		return f, nil
	case err := <-errc:
		ended.Store(true)
		return nil, err
	case <-time.After(20 * time.Second):
		return nil, errors.New("no first sync within 20s")
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// next waits, at most 15 s, for an apply that satisfies ok, and returns
// it with when it came.
func (f *follower) next(ok func([]kubecatalog.Service) bool) ([]kubecatalog.Service, time.Time) {
	f.t.Helper()
	deadline := time.After(15 * time.Second)
	var last []kubecatalog.Service
	for {
		select {
		case s := <-f.applied:
			at := <-f.at
			if ok(s) {
				return s, at
			}
			last = s
		case <-deadline:
			f.t.Fatalf("no apply as wanted within 15s; the last was %+v", last)
			return nil, time.Time{}
		}
	}
}

// find returns the Service name of namespace ns in s, or nil.
func find(s []kubecatalog.Service, ns, name string) *kubecatalog.Service {
	for i := range s {
		if s[i].Namespace == ns && s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

func has(ns, name string) func([]kubecatalog.Service) bool {
	return func(s []kubecatalog.Service) bool { return find(s, ns, name) != nil }
}

// TestServicesFromCluster: a Service's ports with their appProtocols, an
// addon, ready endpoints only, and targets from two slices, as the
// read-only account sees them.
func TestServicesFromCluster(t *testing.T) {
	t.Parallel()
	k, admin := needKube(t)
	ns := namespace(t, k, "shop")
	createService(t, admin, ns, "api", nil,
		tcpPort("http", 80, "http"), tcpPort("grpc", 9090, "grpc"), tcpPort("h2", 8081, "kubernetes.io/h2c"),
		tcpPort("raw", 7000, ""), corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP})
	createService(t, admin, ns, "db", map[string]string{kubecatalog.KindLabel: kubecatalog.KindAddon},
		corev1.ServicePort{Port: 5432, Protocol: corev1.ProtocolTCP})
	ports := []discoveryv1.EndpointPort{slicePort("http", 8080, corev1.ProtocolTCP), slicePort("grpc", 9091, corev1.ProtocolTCP),
		slicePort("dns", 5353, corev1.ProtocolUDP)}
	createSlice(t, admin, newSlice(ns, "api", "api-1", ports, ready(true, "10.77.250.9"), ready(false, "10.77.250.1")))
	createSlice(t, admin, newSlice(ns, "api", "api-2", ports[:1], ready(true, "10.77.250.3", "10.77.250.4")))
	createSlice(t, admin, newSlice(ns, "db", "db-1", []discoveryv1.EndpointPort{{Port: ptr(int32(15432))}}, ready(true, "10.77.250.20")))

	f := follow(t, k, fwdtest.KubeGateway, kubecatalog.Config{Namespaces: []string{ns}})
	got, _ := f.next(func(s []kubecatalog.Service) bool {
		db := find(s, ns, "db")
		return len(s) == 2 && db != nil && len(db.Ports[0].Targets) == 1 && len(find(s, ns, "api").Ports[0].Targets) == 3
	})
	want := []kubecatalog.Service{
		{Namespace: ns, Name: "api", Hostnames: []string{"api." + ns + ".svc.cluster.local", "api." + ns + ".svc"}, Ports: []kubecatalog.Port{
			{Name: "http", Port: 80, Protocol: kubecatalog.HTTP, Targets: []string{"10.77.250.3:8080", "10.77.250.4:8080", "10.77.250.9:8080"}},
			{Name: "grpc", Port: 9090, Protocol: kubecatalog.HTTP2, Targets: []string{"10.77.250.9:9091"}},
			{Name: "h2", Port: 8081, Protocol: kubecatalog.HTTP2},
			{Name: "raw", Port: 7000, Protocol: kubecatalog.TCP},
			{Name: "dns", Port: 53, Protocol: kubecatalog.UDP, Targets: []string{"10.77.250.9:5353"}},
		}},
		{Namespace: ns, Name: "db", Addon: true, Hostnames: []string{"db." + ns + ".svc.cluster.local", "db." + ns + ".svc"}, Ports: []kubecatalog.Port{
			{Name: "5432", Port: 5432, Protocol: kubecatalog.TCP, Targets: []string{"10.77.250.20:15432"}},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("applied\n %+v\nwant\n %+v", got, want)
	}
}

// TestFollowsChanges: endpoints turning ready, ports changing and the
// Service going are each applied. It logs how long an EndpointSlice write
// takes to reach apply.
func TestFollowsChanges(t *testing.T) {
	t.Parallel()
	k, admin := needKube(t)
	ns := namespace(t, k, "live")
	createService(t, admin, ns, "api", nil, tcpPort("http", 80, ""))
	f := follow(t, k, fwdtest.KubeGateway, kubecatalog.Config{Namespaces: []string{ns}})
	f.next(has(ns, "api"))
	slices := admin.DiscoveryV1().EndpointSlices(ns)

	sl := newSlice(ns, "api", "api-1", []discoveryv1.EndpointPort{slicePort("http", 8080, corev1.ProtocolTCP)}, ready(false, "10.77.250.5"))
	createSlice(t, admin, sl)
	sl, err := slices.Get(ctx10(t), "api-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sl.Endpoints = []discoveryv1.Endpoint{ready(true, "10.77.250.5")}
	// Quiet first, so that the update's own debounce is measured.
	time.Sleep(3 * kubecatalog.DefaultDebounce)
	wrote := time.Now()
	if _, err := slices.Update(ctx10(t), sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, at := f.next(func(s []kubecatalog.Service) bool {
		api := find(s, ns, "api")
		return api != nil && reflect.DeepEqual(api.Ports[0].Targets, []string{"10.77.250.5:8080"})
	})
	t.Logf("an EndpointSlice update reached apply %v after it was written (debounce %v)", at.Sub(wrote).Round(time.Millisecond), kubecatalog.DefaultDebounce)

	svc, err := admin.CoreV1().Services(ns).Get(ctx10(t), "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Ports = []corev1.ServicePort{tcpPort("http", 8000, "http"), tcpPort("admin", 9000, "")}
	if _, err := admin.CoreV1().Services(ns).Update(ctx10(t), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.next(func(s []kubecatalog.Service) bool {
		api := find(s, ns, "api")
		return api != nil && len(api.Ports) == 2
	})
	want := []kubecatalog.Port{
		{Name: "http", Port: 8000, Protocol: kubecatalog.HTTP, Targets: []string{"10.77.250.5:8080"}},
		{Name: "admin", Port: 9000, Protocol: kubecatalog.TCP},
	}
	if ports := find(got, ns, "api").Ports; !reflect.DeepEqual(ports, want) {
		t.Errorf("after the ports changed: %+v, want %+v", ports, want)
	}

	if err := admin.CoreV1().Services(ns).Delete(ctx10(t), "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.next(func(s []kubecatalog.Service) bool { return find(s, ns, "api") == nil })
}

// TestBurstIsFewApplies: ten slices written at once are handed out in one
// apply, or a few, not ten.
func TestBurstIsFewApplies(t *testing.T) {
	t.Parallel()
	k, admin := needKube(t)
	ns := namespace(t, k, "burst")
	createService(t, admin, ns, "api", nil, tcpPort("http", 80, ""))
	f := follow(t, k, fwdtest.KubeGateway, kubecatalog.Config{Namespaces: []string{ns}})
	f.next(has(ns, "api"))
	before := f.count.Load()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			createSlice(t, admin, newSlice(ns, "api", fmt.Sprintf("api-%d", i),
				[]discoveryv1.EndpointPort{slicePort("http", 8080, corev1.ProtocolTCP)}, ready(true, fmt.Sprintf("10.77.250.%d", 10+i))))
		}()
	}
	wg.Wait()
	f.next(func(s []kubecatalog.Service) bool {
		api := find(s, ns, "api")
		return api != nil && len(api.Ports[0].Targets) == 10
	})
	// Anything still settling comes within the debounce.
	time.Sleep(3 * kubecatalog.DefaultDebounce)
	if n := f.count.Load() - before; n > 3 {
		t.Errorf("10 slices written at once made %d applies, want 1 to 3", n)
	} else {
		t.Logf("10 slices written at once made %d applies", n)
	}
}

// TestNamespaces: a Source for some namespaces sees nothing of the others.
func TestNamespaces(t *testing.T) {
	t.Parallel()
	k, admin := needKube(t)
	a, b, c := namespace(t, k, "nsa"), namespace(t, k, "nsb"), namespace(t, k, "nsc")
	for _, ns := range []string{a, b, c} {
		createService(t, admin, ns, "api", nil, tcpPort("http", 80, ""))
	}
	f := follow(t, k, fwdtest.KubeGateway, kubecatalog.Config{Namespaces: []string{a, c}})
	got, _ := f.next(func(s []kubecatalog.Service) bool { return has(a, "api")(s) && has(c, "api")(s) })
	for _, s := range got {
		if s.Namespace != a && s.Namespace != c {
			t.Errorf("a Source for %s and %s applied %s", a, c, s.ID())
		}
	}
}

// TestLabelSelector: only the Services the selector selects, and one that
// is labelled to match later appears.
func TestLabelSelector(t *testing.T) {
	t.Parallel()
	k, admin := needKube(t)
	ns := namespace(t, k, "sel")
	createService(t, admin, ns, "mine", map[string]string{"team": "a"}, tcpPort("http", 80, ""))
	createService(t, admin, ns, "theirs", map[string]string{"team": "b"}, tcpPort("http", 80, ""))
	f := follow(t, k, fwdtest.KubeGateway, kubecatalog.Config{Namespaces: []string{ns}, LabelSelector: "team=a"})
	got, _ := f.next(has(ns, "mine"))
	if find(got, ns, "theirs") != nil {
		t.Errorf("team=a applied team b's Service: %+v", got)
	}
	svc, err := admin.CoreV1().Services(ns).Get(ctx10(t), "theirs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Labels["team"] = "a"
	if _, err := admin.CoreV1().Services(ns).Update(ctx10(t), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.next(has(ns, "theirs"))
}

// TestCheckRefuses: what Config.Check refuses is left out, the rest stays.
func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	k, admin := needKube(t)
	ns := namespace(t, k, "check")
	createService(t, admin, ns, "good", nil, tcpPort("http", 80, ""))
	createService(t, admin, ns, "refused", nil, tcpPort("http", 80, ""))
	f := follow(t, k, fwdtest.KubeGateway, kubecatalog.Config{Namespaces: []string{ns}, Check: func(s kubecatalog.Service) error {
		if s.Name == "refused" {
			return errors.New("not today")
		}
		return nil
	}})
	got, _ := f.next(has(ns, "good"))
	if find(got, ns, "refused") != nil {
		t.Errorf("a Service that Check refused was applied: %+v", got)
	}
}

// TestNamespacedRole: an account with a Role in one namespace only is
// enough for a Source of that namespace, and a Source of the whole
// cluster with it fails at once, saying what to grant.
func TestNamespacedRole(t *testing.T) {
	t.Parallel()
	k, admin := needKube(t)
	ns := namespace(t, k, "role")
	user := fwdtest.KubeBareUsers[0]
	if err := k.Grant(ctx10(t), user, ns); err != nil {
		t.Fatal(err)
	}
	createService(t, admin, ns, "api", nil, tcpPort("http", 80, ""))
	f := follow(t, k, user, kubecatalog.Config{Namespaces: []string{ns}})
	f.next(has(ns, "api"))

	start := time.Now()
	_, err := startFollow(t, k, user, kubecatalog.Config{})
	if err == nil || !strings.Contains(err.Error(), "cannot list") || !strings.Contains(err.Error(), "forbidden") ||
		!strings.Contains(err.Error(), "get, list and watch on services and on endpointslices") {
		t.Fatalf("a cluster-wide Source with a namespaced Role: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the refusal took %v to come", d)
	}
	t.Logf("refused: %v", err)
}

// TestNoCluster: nothing listening at the kubeconfig's server is an error
// within SyncTimeout that says so.
func TestNoCluster(t *testing.T) {
	t.Parallel()
	port, err := fwdtest.FreePort("tcp")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/kubeconfig"
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:%d\", insecure-skip-tls-verify: true}}]\n"+
		"users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n", port)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := kubecatalog.New(kubecatalog.Config{Kubeconfig: path, Namespaces: []string{"shop"}, SyncTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = src.Run(context.Background(), func([]kubecatalog.Service) { t.Error("applied without a cluster") })
	if err == nil || !strings.Contains(err.Error(), "cannot list") || !strings.Contains(err.Error(), "in shop") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Run = %v, want cannot list ... in shop ... connection refused", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v with a SyncTimeout of 1s", d)
	}
}

// TestBadSelector: New refuses a label selector kubectl would.
func TestBadSelector(t *testing.T) {
	_, err := kubecatalog.New(kubecatalog.Config{InCluster: true, LabelSelector: "team in (a"}, nil)
	if !errors.Is(err, kubecatalog.ErrSelector) || !strings.Contains(err.Error(), `"team in (a"`) {
		t.Errorf("New = %v, want a label_selector error", err)
	}
}
