//go:build linux

package fwdtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/fwd-dev/fwd/internal/retry"
)

// KubeBinDirEnv names the directory holding kube-apiserver (and kubectl),
// as .ci/kube-binaries.sh builds them; .ci/run exports it.
const KubeBinDirEnv = "FWD_KUBE_BIN_DIR"

// KubeVersion is the Kubernetes release .ci/kube-binaries.sh builds.
const KubeVersion = "v1.37.2"

// The users of a Kube's API server, each with a token of its own and a
// kubeconfig (Kube.Kubeconfig).
const (
	// KubeAdmin is in system:masters: it may do anything.
	KubeAdmin = "admin"
	// KubeGateway may only get, list and watch services and endpointslices,
	// across the cluster (KubeGatewayRules): a gateway's real permissions.
	KubeGateway = "fwd-gateway"
)

// KubeBareUsers have no permissions at all until a test grants them some,
// such as KubeGatewayRules in one namespace.
var KubeBareUsers = []string{"fwd-bare-1", "fwd-bare-2", "fwd-bare-3"}

// KubeGatewayRules are what a gateway's account needs: get, list and watch
// on services and on endpointslices.
var KubeGatewayRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
}

// KubeBinDir returns the directory of kube-apiserver: $FWD_KUBE_BIN_DIR,
// or else the cache .ci/kube-binaries.sh fills. Without either the error
// wraps ErrNotInstalled (tests skip) and says how to build it; a
// FWD_KUBE_BIN_DIR without the binary is a plain error (tests fail), since
// whoever set it meant them to run.
func KubeBinDir() (string, error) {
	if dir := os.Getenv(KubeBinDirEnv); dir != "" {
		if !executable(filepath.Join(dir, "kube-apiserver")) {
			return "", fmt.Errorf("fwdtest: %s=%s has no kube-apiserver: run .ci/kube-binaries.sh, which prints the directory", KubeBinDirEnv, dir)
		}
		return dir, nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: kube-apiserver: %s is not set and there is no home directory", ErrNotInstalled, KubeBinDirEnv)
		}
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "fwd-ci", "kube-"+KubeVersion)
	if !executable(filepath.Join(dir, "kube-apiserver")) {
		return "", fmt.Errorf("%w: kube-apiserver: %s is not set and %s has none: run .ci/kube-binaries.sh (about 6 minutes, once)", ErrNotInstalled, KubeBinDirEnv, dir)
	}
	return dir, nil
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Kube is a real kube-apiserver with its own etcd (Debian's etcd-server),
// both on loopback ports of their own: RBAC on, static tokens, no
// controller-manager and no nodes, so tests write Services and
// EndpointSlices themselves.
type Kube struct {
	// Server is https://127.0.0.1:PORT.
	Server string
	// CAFile verifies the API server's certificate.
	CAFile string
	Dir    string

	tokens      map[string]string // user -> token
	mu          sync.Mutex        // guards kubeconfigs: parallel tests ask for them
	kubeconfigs map[string]string // user -> file
	etcd, api   *Process
	etcdDir     string
	closeOnce   sync.Once
	closeErr    error
}

// StartKube starts etcd and kube-apiserver under dir and waits, within
// ctx, until the API server is ready and KubeGateway's permissions are in
// force. Close stops both. It takes a few seconds.
func StartKube(ctx context.Context, dir string) (*Kube, error) {
	binDir, err := KubeBinDir()
	if err != nil {
		return nil, err
	}
	etcdBin, err := LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("%w: etcd (Debian package etcd-server): run .ci/install-deps.sh", ErrNotInstalled)
	}
	k := &Kube{Dir: dir, tokens: map[string]string{}, kubeconfigs: map[string]string{}}
	if err := k.writeFiles(); err != nil {
		return nil, err
	}
	_, err = withPorts(newStartConfig(nil), 3, []string{"tcp"}, func(ports []int) (*Kube, error) {
		if err := k.startEtcd(ctx, etcdBin, ports[0], ports[1]); err != nil {
			return nil, err
		}
		if err := k.startAPIServer(ctx, filepath.Join(binDir, "kube-apiserver"), ports[0], ports[2]); err != nil {
			k.stopEtcd()
			return nil, err
		}
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	if err := k.grantGateway(ctx); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// writeFiles writes the service-account key and the token file.
func (k *Kube) writeFiles() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("fwdtest: kube: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("fwdtest: kube: %w", err)
	}
	if err := writeFile(filepath.Join(k.Dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	var csv strings.Builder
	for _, user := range append([]string{KubeAdmin, KubeGateway}, KubeBareUsers...) {
		b := make([]byte, 16)
		rand.Read(b)
		k.tokens[user] = hex.EncodeToString(b)
		groups := ""
		if user == KubeAdmin {
			groups = `,"system:masters"`
		}
		fmt.Fprintf(&csv, "%s,%s,%s%s\n", k.tokens[user], user, user, groups)
	}
	return writeFile(filepath.Join(k.Dir, "tokens.csv"), []byte(csv.String()), 0o600)
}

func (k *Kube) startEtcd(ctx context.Context, bin string, clientPort, peerPort int) error {
	// etcd fsyncs every write: on tmpfs that costs nothing.
	base := "/dev/shm"
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base = k.Dir
	}
	// A test killed before Close leaves its data behind, over 100 MB of
	// memory on tmpfs: the directory names its process, so the next start
	// can tell.
	removeStale(base, etcdDirs)
	dataDir, err := os.MkdirTemp(base, fmt.Sprintf("fwdtest-etcd-%d-", os.Getpid()))
	if err != nil {
		return fmt.Errorf("fwdtest: etcd: %w", err)
	}
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := StartProcess("etcd", ProcessOptions{LogPath: filepath.Join(k.Dir, "etcd.log"), Env: baseEnv(), OwnGroup: true}, bin,
		"--name", "fwdtest", "--data-dir", dataDir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "fwdtest="+peer)
	if err != nil {
		os.RemoveAll(dataDir)
		return err
	}
	k.etcd, k.etcdDir = p, dataDir
	hc := &http.Client{Timeout: time.Second}
	err = p.WaitReady(ctx, func() (bool, error) {
		if p.LogContains("address already in use") {
			return false, errPortInUse
		}
		// Only its own log says the port is this etcd's: the health check
		// alone would take another test's etcd that won the port (its
		// API server then shared one etcd with ours, and neither got
		// ready: "Too large resource version").
		// etcd 3.4 words it so; 3.5 logs JSON with the address.
		if !p.LogContains("serving insecure client requests on 127.0.0.1:"+strconv.Itoa(clientPort),
			`"address":"127.0.0.1:`+strconv.Itoa(clientPort)+`"`) {
			return false, nil
		}
		resp, err := hc.Get(client + "/health")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return err == nil && strings.Contains(string(body), `"health":"true"`), nil
	})
	if err != nil {
		k.stopEtcd()
	}
	return err
}

func (k *Kube) stopEtcd() error {
	if k.etcd == nil {
		return nil
	}
	err := k.etcd.Stop()
	os.RemoveAll(k.etcdDir)
	k.etcd = nil
	return err
}

func (k *Kube) startAPIServer(ctx context.Context, bin string, etcdPort, port int) error {
	certDir := filepath.Join(k.Dir, "certs")
	os.RemoveAll(certDir) // a certificate for another port's attempt would do, but start clean
	saKey := filepath.Join(k.Dir, "sa.key")
	p, err := StartProcess("kube-apiserver", ProcessOptions{LogPath: filepath.Join(k.Dir, "kube-apiserver.log"), Env: baseEnv(), OwnGroup: true}, bin,
		"--etcd-servers=http://127.0.0.1:"+strconv.Itoa(etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--cert-dir="+certDir,
		"--token-auth-file="+filepath.Join(k.Dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saKey, "--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		// Without it, v1.37 keeps trying to write the kubernetes
		// Service's endpoints for 127.0.0.1, which it refuses.
		"--endpoint-reconciler-type=none")
	if err != nil {
		return err
	}
	k.api = p
	k.Server = "https://127.0.0.1:" + strconv.Itoa(port)
	k.CAFile = filepath.Join(certDir, "apiserver.crt")
	var admin kubernetes.Interface
	err = p.WaitReady(ctx, func() (bool, error) {
		if p.LogContains("address already in use") {
			return false, errPortInUse
		}
		if admin == nil {
			// The certificate is made at start: until then, no client.
			if _, err := os.Stat(k.CAFile); err != nil {
				return false, nil
			}
			if admin, err = k.Client(KubeAdmin); err != nil {
				return false, err
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		body, err := admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
		return err == nil && string(body) == "ok", nil
	})
	if err != nil {
		k.api = nil
	}
	return err
}

// grantGateway binds KubeGatewayRules to KubeGateway across the cluster,
// and waits until they are in force.
func (k *Kube) grantGateway(ctx context.Context) error {
	admin, err := k.Client(KubeAdmin)
	if err != nil {
		return err
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: KubeGateway}, Rules: KubeGatewayRules}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("fwdtest: kube: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: KubeGateway},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: KubeGateway},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: KubeGateway}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("fwdtest: kube: %w", err)
	}
	gw, err := k.Client(KubeGateway)
	if err != nil {
		return err
	}
	return k.WaitAllowed(ctx, gw, "default")
}

// WaitAllowed waits, within ctx and at most 10 s, until client may list
// services and endpointslices in namespace: RBAC objects take effect a
// moment after they are written.
func (k *Kube) WaitAllowed(ctx context.Context, client kubernetes.Interface, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, err := client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			_, err = client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{Limit: 1})
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fwdtest: kube: permissions not in force: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Client is a client of the API server as user (KubeAdmin, KubeGateway or
// one of KubeBareUsers).
func (k *Kube) Client(user string) (kubernetes.Interface, error) {
	tok, ok := k.tokens[user]
	if !ok {
		return nil, fmt.Errorf("fwdtest: kube: no user %q", user)
	}
	c, err := kubernetes.NewForConfig(&rest.Config{Host: k.Server, BearerToken: tok, QPS: 200, Burst: 400,
		TLSClientConfig: rest.TLSClientConfig{CAFile: k.CAFile}})
	if err != nil {
		return nil, fmt.Errorf("fwdtest: kube: %w", err)
	}
	return c, nil
}

// Kubeconfig returns a kubeconfig file for user, written on first use.
// Any number of goroutines may call it.
func (k *Kube) Kubeconfig(user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if path, ok := k.kubeconfigs[user]; ok {
		return path, nil
	}
	tok, ok := k.tokens[user]
	if !ok {
		return "", fmt.Errorf("fwdtest: kube: no user %q", user)
	}
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: fwdtest
    cluster:
      server: %s
      certificate-authority: %s
users:
  - name: %s
    user:
      token: %s
contexts:
  - name: fwdtest
    context: {cluster: fwdtest, user: %s}
current-context: fwdtest
`, k.Server, k.CAFile, user, tok, user)
	path := filepath.Join(k.Dir, "kubeconfig-"+user)
	if err := writeFile(path, []byte(text), 0o600); err != nil {
		return "", err
	}
	k.kubeconfigs[user] = path
	return path, nil
}

// CreateNamespace creates namespace name as KubeAdmin.
func (k *Kube) CreateNamespace(ctx context.Context, name string) error {
	admin, err := k.Client(KubeAdmin)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("fwdtest: kube: %w", err)
	}
	return nil
}

// Grant gives user KubeGatewayRules in namespace alone (a Role and a
// RoleBinding), and waits until they are in force.
func (k *Kube) Grant(ctx context.Context, user, namespace string) error {
	admin, err := k.Client(KubeAdmin)
	if err != nil {
		return err
	}
	name := "fwd-" + user
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Rules: KubeGatewayRules}
	if _, err := admin.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("fwdtest: kube: %w", err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := admin.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("fwdtest: kube: %w", err)
	}
	c, err := k.Client(user)
	if err != nil {
		return err
	}
	return k.WaitAllowed(ctx, c, namespace)
}

// Close stops the API server, then etcd, and removes etcd's data.
func (k *Kube) Close() error {
	k.closeOnce.Do(func() {
		var errs []error
		if k.api != nil {
			errs = append(errs, k.api.Stop())
		}
		errs = append(errs, k.stopEtcd())
		k.closeErr = errors.Join(errs...)
	})
	return k.closeErr
}

// LogTail is the end of the API server's log, for a failure message.
func (k *Kube) LogTail() string {
	if k.api == nil {
		return ""
	}
	return k.api.LogTail()
}

// Netns is a network namespace joined to this one by a veth pair, for
// targets that must not be on loopback (EndpointSlices refuse loopback
// addresses): this side is HostIP in a /24 of 10.77.0.0/16 that nothing
// here uses, the namespace's side holds IPs. Servers listen inside with
// Listen; this namespace reaches them by their IPs over the pair.
type Netns struct {
	Name   string
	HostIP string
	IPs    []string
}

var (
	netnsSeq   atomic.Int64
	netnsNames = regexp.MustCompile(`^fwdkube-(\d+)-\d+$`)
	etcdDirs   = regexp.MustCompile(`^fwdtest-etcd-(\d+)-\d+$`)
)

// NewNetns makes a namespace with addrs addresses (at least one); it is
// removed when the test ends. It skips the test unless root with ip(8).
func NewNetns(t testing.TB, addrs int) *Netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	NeedBinaries(t, "ip")
	removeStaleNetns()
	seq := netnsSeq.Add(1)
	n := &Netns{Name: fmt.Sprintf("fwdkube-%d-%d", os.Getpid(), seq)}
	tag := fmt.Sprintf("%05x", mrand.N(1<<20))
	hostIf, nsIf := "fkh"+tag, "fkn"+tag // at most 15 bytes
	subnet, err := freeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	n.HostIP = subnet + ".1"
	for i := range max(addrs, 1) {
		n.IPs = append(n.IPs, subnet+"."+strconv.Itoa(i+2))
	}
	mustIP(t, "netns", "add", n.Name)
	t.Cleanup(func() {
		// Deleting the namespace deletes its end of the pair, and with it
		// ours.
		if out, err := ipCmd("netns", "del", n.Name); err != nil {
			t.Errorf("removing namespace %s: %v\n%s", n.Name, err, out)
		}
	})
	mustIP(t, "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	mustIP(t, "link", "set", nsIf, "netns", n.Name)
	mustIP(t, "addr", "add", n.HostIP+"/24", "dev", hostIf)
	mustIP(t, "link", "set", hostIf, "up")
	for _, ip := range n.IPs {
		mustIP(t, "-n", n.Name, "addr", "add", ip+"/24", "dev", nsIf)
	}
	mustIP(t, "-n", n.Name, "link", "set", nsIf, "up")
	mustIP(t, "-n", n.Name, "link", "set", "lo", "up")
	return n
}

// freeSubnet picks 10.77.X (a /24) that no address or route here is in.
func freeSubnet() (string, error) {
	addrs, err := ipCmd("-o", "-4", "addr", "show")
	if err != nil {
		return "", err
	}
	routes, err := ipCmd("-4", "route", "show")
	if err != nil {
		return "", err
	}
	for range 100 {
		subnet := "10.77." + strconv.Itoa(mrand.N(256))
		if !strings.Contains(addrs, " "+subnet+".") && !strings.Contains(routes, subnet+".") {
			return subnet, nil
		}
	}
	return "", errors.New("fwdtest: no free /24 in 10.77.0.0/16")
}

// removeStaleNetns deletes the namespaces of test processes that died
// before they could.
func removeStaleNetns() {
	ents, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		if m := netnsNames.FindStringSubmatch(e.Name()); m != nil && processGone(m[1]) {
			ipCmd("netns", "del", e.Name())
		}
	}
}

// removeStale removes the entries of dir that names match, with the pid
// of a process that is gone as their first group.
func removeStale(dir string, names *regexp.Regexp) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if m := names.FindStringSubmatch(e.Name()); m != nil && processGone(m[1]) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func processGone(pid string) bool {
	if pid == strconv.Itoa(os.Getpid()) {
		return false
	}
	_, err := os.Stat("/proc/" + pid)
	return errors.Is(err, os.ErrNotExist)
}

func mustIP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := ipCmd(args...); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func ipCmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	return string(out), err
}

// Listen listens on addr ("10.77.X.2:0") inside the namespace; the socket
// stays there whichever goroutine uses it.
func (n *Netns) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fwdtest: listen in %s: %w", n.Name, err)
	}
	return ln, nil
}

// StartEcho starts a TCP echo server (as StartEcho's) on addr inside the
// namespace ("10.77.X.2:0" for a port the system picks); it is closed when
// the test ends.
func (n *Netns) StartEcho(t testing.TB, addr string) *GoServer {
	t.Helper()
	ln, err := n.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &GoServer{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		retry.AcceptLoop(ln, nil, func(c net.Conn) {
			s.handle(c, func(c *net.TCPConn) {
				io.Copy(c, c)
				c.CloseWrite()
			})
		}, nil)
	}()
	t.Cleanup(func() { s.Close() })
	return s
}

// do runs f on an OS thread inside the namespace. The thread goes back to
// its own namespace after; if it cannot, it stays locked and ends with its
// goroutine, so that no other goroutine finds itself inside.
func (n *Netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", n.Name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
