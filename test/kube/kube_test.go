//go:build linux

package kube_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/fwd-dev/fwd/internal/kubecatalog"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
)

func ptr[T any](v T) *T { return &v }

// cluster is one test's namespace, written as the admin, and the targets
// behind its Services in a network namespace.
type cluster struct {
	t      *testing.T
	kube   *fwdtest.Kube
	admin  kubernetes.Interface
	ns     string
	netns  *fwdtest.Netns
	target map[string]string // name -> address of an echo server in netns
}

func newCluster(t *testing.T, ns string) *cluster {
	t.Helper()
	k := needKube(t)
	admin, err := k.Client(fwdtest.KubeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, kube: k, admin: admin, ns: ns, netns: fwdtest.NewNetns(t, 2), target: map[string]string{}}
	if err := k.CreateNamespace(c.ctx(), ns); err != nil {
		t.Fatal(err)
	}
	// Two endpoints of http on the same port, as a Deployment's pods
	// would be, each saying which it is; db and admin echo, on one each.
	ip1, ip2 := c.netns.IPs[0], c.netns.IPs[1]
	c.whoami(ip1+":28080", "pod-1")
	c.whoami(ip2+":28080", "pod-2")
	for name, addr := range map[string]string{"db": ip1 + ":25432", "admin": ip2 + ":28090"} {
		c.target[name] = c.netns.StartEcho(t, addr).Addr
	}
	return c
}

// whoami serves name to every connection on addr in the network
// namespace, then closes it.
func (c *cluster) whoami(addr, name string) {
	c.t.Helper()
	ln, err := c.netns.Listen("tcp", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte(name))
			conn.Close()
		}
	}()
}

// ask reads what the server behind addr says, until it closes.
func ask(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	return string(b), err
}

// pods asks addr n times and returns who answered, how often.
func pods(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		who, err := ask(addr)
		if err != nil {
			t.Fatal(err)
		}
		seen[who]++
	}
	return seen
}

// setEndpoints makes the EndpointSlice name of svc hold addrs, all ready.
func (c *cluster) setEndpoints(name string, addrs ...string) {
	c.t.Helper()
	slices := c.admin.DiscoveryV1().EndpointSlices(c.ns)
	sl, err := slices.Get(c.ctx(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	sl.Endpoints = nil
	for _, a := range addrs {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
	}
	if _, err := slices.Update(c.ctx(), sl, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// resultLines counts the JSON results lines the client printed.
func resultLines(p *fwdtest.Process) int {
	n := 0
	for _, line := range strings.Split(p.Output(), "\n") {
		if strings.HasPrefix(line, "[") {
			n++
		}
	}
	return n
}

func (c *cluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c.t.Cleanup(cancel)
	return ctx
}

func (c *cluster) createService(name string, labels map[string]string, ports ...corev1.ServicePort) {
	c.t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.ServiceSpec{Ports: ports}}
	if _, err := c.admin.CoreV1().Services(c.ns).Create(c.ctx(), svc, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) setPorts(name string, ports ...corev1.ServicePort) {
	c.t.Helper()
	svcs := c.admin.CoreV1().Services(c.ns)
	svc, err := svcs.Get(c.ctx(), name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	svc.Spec.Ports = ports
	if _, err := svcs.Update(c.ctx(), svc, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// createSlice writes an EndpointSlice of svc: every address ready, at the
// ports given as name:number ("" for an unnamed port).
func (c *cluster) createSlice(svc, name string, ports map[string]int32, addrs ...string) {
	c.t.Helper()
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for n, p := range ports {
		sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: ptr(n), Port: ptr(p), Protocol: ptr(corev1.ProtocolTCP)})
	}
	for _, a := range addrs {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
	}
	if _, err := c.admin.DiscoveryV1().EndpointSlices(c.ns).Create(c.ctx(), sl, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func port(name string, number int32, app string) corev1.ServicePort {
	p := corev1.ServicePort{Name: name, Port: number, Protocol: corev1.ProtocolTCP}
	if app != "" {
		p.AppProtocol = ptr(app)
	}
	return p
}

// startGateway runs fwd gateway with the cluster's namespace as its
// catalog, through the read-only account, and one token for it.
func (c *cluster) startGateway(token string) (*fwdtest.Process, tunnel.Announcement) {
	c.t.Helper()
	kc, err := c.kube.Kubeconfig(fwdtest.KubeGateway)
	if err != nil {
		c.t.Fatal(err)
	}
	dir := c.t.TempDir()
	cfg := filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf(`listen: 127.0.0.1:0
tokens:
  - {name: dev, sha256: %s, projects: [%s]}
catalog:
  kubernetes:
    kubeconfig: %s
    namespaces: [%s]
limits:
  dial_timeout: 2s
  shutdown_grace: 1s
`, tunnel.HashToken(token), c.ns, kc, c.ns)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		c.t.Fatal(err)
	}
	p := fwdtest.StartProcessT(c.t, "fwd gateway", fwdtest.ProcessOptions{StdoutLines: true, StopGrace: 5 * time.Second},
		fwdBin, "gateway", "--config", cfg, "-o", "json", "-v")
	line, err := p.FirstLine(40 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	ann, err := fwdtest.ParseAnnouncement(line)
	if err != nil {
		c.t.Fatal(err)
	}
	return p, ann
}

// startClient runs fwd all for the namespace's project, printing JSON.
func (c *cluster) startClient(ann tunnel.Announcement, token string) (*fwdtest.Process, map[string]string) {
	c.t.Helper()
	home := c.t.TempDir()
	env := append(os.Environ(), "FWD_GATEWAY="+ann.Listen, "FWD_TOKEN="+token, "FWD_FINGERPRINT="+ann.Fingerprint,
		"HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_RUNTIME_DIR="+home, "FWD_NO_KEYRING=1")
	p := fwdtest.StartProcessT(c.t, "fwd all", fwdtest.ProcessOptions{StdoutLines: true, Env: env, StopSignal: syscall.SIGINT, StopGrace: 5 * time.Second},
		fwdBin, "all", "--project", c.ns, "--skipHostnames", "-o", "json", "-v")
	line, err := p.FirstLine(30 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	f, err := forwards(line)
	if err != nil {
		c.t.Fatal(err)
	}
	return p, f
}

// TestGatewayFollowsCluster: fwd gateway with catalog: {kubernetes: ...}
// and only get, list and watch on services and endpointslices; fwd all
// forwards the namespace's Service and addon, and data echoes through
// the targets their EndpointSlices name. Then the cluster changes while
// both run: a port added with its endpoints, a port without any (a
// connection to it fails cleanly), the Service deleted. The client
// follows each without reconnecting.
func TestGatewayFollowsCluster(t *testing.T) {
	c := newCluster(t, "kshop")
	c.createService("api", nil, port("http", 18080, "http"))
	c.createSlice("api", "api-1", map[string]int32{"http": 28080}, c.netns.IPs...)
	c.createService("db", map[string]string{kubecatalog.KindLabel: kubecatalog.KindAddon}, corev1.ServicePort{Port: 15432, Protocol: corev1.ProtocolTCP})
	c.createSlice("db", "db-1", map[string]int32{"": 25432}, c.netns.IPs[0])

	token, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	gw, ann := c.startGateway(token)
	client, f := c.startClient(ann, token)
	if f["api/http"] == "" || f["db/15432"] == "" {
		t.Fatalf("first forwards %v: want api/http and db/15432", f)
	}
	// Round-robin over both ready endpoints.
	if seen := pods(t, f["api/http"], 4); seen["pod-1"] != 2 || seen["pod-2"] != 2 {
		t.Errorf("4 connections to api reached %v: want each pod twice", seen)
	}
	if err := echo(f["db/15432"], "db"); err != nil {
		t.Fatal(err)
	}

	// A pod going: the gateway stops dialling it; the client, whose view
	// has no targets, hears nothing and prints nothing.
	lines := resultLines(client)
	c.setEndpoints("api-1", c.netns.IPs[0])
	deadline := time.Now().Add(10 * time.Second)
	for pods(t, f["api/http"], 2)["pod-2"] > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the gateway still dials pod-2 10s after it left the EndpointSlice")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if seen := pods(t, f["api/http"], 4); seen["pod-1"] != 4 {
		t.Errorf("with pod-2 gone, 4 connections reached %v", seen)
	}
	if n := resultLines(client); n != lines {
		t.Errorf("the client printed its forwards again (%d lines, was %d) when only endpoints changed", n, lines)
	}

	// A port with its endpoints, and one with none. Quiet first, so that
	// the time measured is this change's own (debounce, push, reprint).
	time.Sleep(3 * kubecatalog.DefaultDebounce)
	changed := time.Now()
	c.setPorts("api", port("http", 18080, "http"), port("admin", 18090, ""), port("spare", 18091, ""))
	c.createSlice("api", "api-2", map[string]int32{"admin": 28090}, c.netns.IPs[1])
	f, at := waitForwards(t, client, "admin and spare", func(f map[string]string) bool {
		return f["api/admin"] != "" && f["api/spare"] != ""
	})
	t.Logf("the client printed the new ports %v after the Service was updated", at.Sub(changed).Round(time.Millisecond))
	if err := echo(f["api/admin"], "admin"); err != nil {
		t.Fatal(err)
	}
	if who, err := ask(f["api/http"]); err != nil || who != "pod-1" {
		t.Fatalf("api/http after the ports changed: %q, %v", who, err)
	}
	noReadyEndpoints(t, gw, client, f["api/spare"])

	time.Sleep(3 * kubecatalog.DefaultDebounce)
	deleted := time.Now()
	if err := c.admin.CoreV1().Services(c.ns).Delete(c.ctx(), "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, at = waitForwards(t, client, "api gone", func(f map[string]string) bool { return f["api/http"] == "" && f["db/15432"] != "" })
	t.Logf("the client dropped the deleted Service %v after it was deleted", at.Sub(deleted).Round(time.Millisecond))
	if conn, err := net.DialTimeout("tcp", f["api/http"], time.Second); err == nil {
		conn.Close()
		t.Error("api's local listener still answers after the Service was deleted")
	}
	if err := echo(f["db/15432"], "db stays"); err != nil {
		t.Fatal(err)
	}
	if client.LogContains("reconnecting", "tunnel down") {
		t.Errorf("the client reconnected to follow the cluster:\n%s", client.LogTail())
	}
}

// noReadyEndpoints: a connection to a port without ready endpoints gets no
// data and is closed, the gateway says why, and it keeps serving.
func noReadyEndpoints(t *testing.T, gw, client *fwdtest.Process, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		// The client passed the refusal on as a reset before the dial had
		// even returned: loopback is that fast.
	case err != nil:
		t.Fatal(err)
	default:
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte("anyone?"))
		buf := make([]byte, 16)
		if n, err := conn.Read(buf); err == nil || n > 0 {
			t.Errorf("a port without ready endpoints answered %q, %v", buf[:n], err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if gw.Exited() {
		t.Fatalf("the gateway died on a port without targets (tunnel.Gateway.dial must refuse empty Targets):\n%s", gw.LogTail())
	}
	if !gw.LogContains("no ready endpoints") && !client.LogContains("no ready endpoints") {
		t.Errorf("neither the gateway nor the client says there are no ready endpoints:\ngateway:\n%s\nclient:\n%s", gw.LogTail(), client.LogTail())
	}
	if strings.Contains(gw.Output(), "panic") {
		t.Errorf("the gateway panicked:\n%s", gw.LogTail())
	}
}
