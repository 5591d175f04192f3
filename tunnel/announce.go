package tunnel

// Announcement is what a gateway says when it starts serving: `fwd gateway
// --output json` prints it as its first stdout line, and scripts and tests
// read it. The fields are in the order of their keys, so that the line is
// {"fingerprint":...,"listen":...,"projects":[...]}, as it has always been,
// followed by "ssh_fingerprint" and "ssh_listen" when the gateway also
// speaks SSH, and with "metrics_listen" before "projects" when it serves
// health and metrics.
type Announcement struct {
	// Fingerprint is the SHA-256 of the gateway's certificate, sha256:HEX,
	// for clients to pin (FWD_FINGERPRINT).
	Fingerprint string `json:"fingerprint"`
	// Listen is the host:port the gateway listens on, its port resolved
	// when the config said 0.
	Listen string `json:"listen"`
	// MetricsListen is the host:port of /healthz, /readyz and /metrics
	// (metrics_listen), its port resolved, when the gateway serves them.
	MetricsListen string `json:"metrics_listen,omitempty"`
	// Projects are the catalog's project names, [] (never null) when it has
	// none.
	Projects []string `json:"projects"`
	// SSHFingerprint is the SSH host key's fingerprint as ssh-keygen -l
	// and ssh print it, SHA256:BASE64, when the gateway speaks SSH.
	SSHFingerprint string `json:"ssh_fingerprint,omitempty"`
	// SSHListen is the host:port of the SSH listener (ssh_listen), its
	// port resolved, when the gateway speaks SSH.
	SSHListen string `json:"ssh_listen,omitempty"`
	// ExposeHTTPS and ExposeHTTP are the host:port of the public side of
	// exposures (expose.https_listen, expose.http_listen), ports resolved,
	// when the gateway exposes.
	ExposeHTTPS string `json:"expose_https,omitempty"`
	ExposeHTTP  string `json:"expose_http,omitempty"`
	// ExposeDomain is the domain exposures' URLs end in.
	ExposeDomain string `json:"expose_domain,omitempty"`
}
