// Package config loads the gateway's configuration file (gateway.yaml): the
// address it listens on, its TLS certificate, the tokens it accepts, the
// catalog of projects, services and addons it forwards to, and its limits.
//
// # File format
//
// A complete file, with every optional key and the defaults of the limits:
//
//	listen: 127.0.0.1:7443          # optional, default 127.0.0.1:7443
//	tls:                            # optional: omit both for a self-signed
//	  cert: gateway.crt             # certificate that clients pin by
//	  key: gateway.key              # fingerprint
//	tokens:
//	  - name: alice                 # unique; appears in the gateway's logs
//	    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    projects: [shop]            # projects this token may forward, or ["*"]
//	    expose: true                # optional: may also publish local ports (fwd expose)
//	users:                          # optional: SSH-key logins, beside or instead of tokens
//	  - name: bob                   # unique; a certificate's principal; ssh bob@gateway
//	    ssh_keys:                   # authorized_keys lines; or authorized_keys: FILE
//	      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1BLB5SU7PsKn0O3oih1oKRLB1DBYKvsWVVmVgNuCex bob@laptop
//	    projects: [shop]
//	ssh_user_ca: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICQ/pAPJ3foHvSu+d+q/JIChjqUo/RNdhJ69lmHs975Z user-ca
//	ssh_listen: 127.0.0.1:2222      # optional: also serve stock ssh -L here
//	ssh_host_key: ssh_host_ed25519_key  # optional, default: that name beside the config
//	metrics_listen: 127.0.0.1:9090  # optional: /healthz, /readyz, /metrics
//	hostname_suffixes: [svc.cluster.local]   # needed if any hostnames: below
//	projects:
//	  - name: shop
//	    services:
//	      - name: api
//	        hostnames: [api.shop.svc.cluster.local]   # optional extra names
//	        ports:
//	          - name: http          # optional
//	            port: 8080
//	            protocol: HTTP      # optional, default TCP
//	            targets: [10.0.0.5:8080, 10.0.0.6:8080]
//	    addons:
//	      - name: db
//	        ports:
//	          - {name: postgres, port: 5432, protocol: TCP, targets: [10.0.0.9:5432]}
//	expose:                         # optional: fwd expose publishes clients' ports here
//	  domain: fwd.example.dev       # URLs are https://PORTNAME--NAME--LABEL.fwd.example.dev
//	  https_listen: 127.0.0.1:8443  # the public HTTPS side, with the wildcard certificate
//	  http_listen: 127.0.0.1:8080   # optional: redirects to HTTPS
//	  tls: {cert: wildcard.crt, key: wildcard.key}  # optional: default a self-signed one, expose.crt
//	  https_port: 443               # optional: the port in URLs, default https_listen's
//	  tcp_ports: 30000-30999        # optional: public ports leased to fwd expose --tcp
//	  tcp_host: 0.0.0.0             # optional: where TCP exposures listen, default every interface
//	  public_host: fwd.example.dev  # optional: the host in HOST:PORT, default domain
//	  lease_file: expose-leases.json  # optional, default that name beside the config
//	  lease_ttl: 24h                # how long an unused URL label or TCP port stays reserved
//	  max_per_login: 10             # exposures per token or user at once
//	  response_header_timeout: 0s   # 0 = no limit on waiting for the app
//	  idle_timeout: 2m              # closes idle public connections
//	limits:                         # optional, each key on its own
//	  max_sessions: 1024            # concurrent client sessions
//	  max_streams_per_session: 4096 # concurrent forwarded connections per session
//	  dial_timeout: 5s              # to connect to a target
//	  idle_timeout: 0s              # cut streams idle this long; 0 = never
//	  udp_flow_idle: 60s            # forget a UDP flow idle this long
//	  shutdown_grace: 10s           # on SIGTERM, wait this long for streams
//	  max_handshakes: 512           # connections not yet through TLS and login
//	  max_handshakes_per_source: 32 # the same, from one client IP address
//
// # Keys
//
// listen is host:port. An empty host listens on every interface; port 0
// picks a free port (useful in tests).
//
// tls.cert and tls.key are PEM files, both or neither. Relative paths are
// relative to the directory of the config file (Load), or to the working
// directory when the config comes from bytes (Parse). Without them the
// gateway generates a self-signed certificate.
//
// tokens lists who may connect with a token. A token is stored only as the lowercase hex
// SHA-256 of its text (64 characters; a "sha256:" prefix is accepted), for
// example from
//
//	printf %s "$TOKEN" | sha256sum
//
// Its projects must exist in the catalog or be "*" (quoted: a bare * starts a
// YAML alias). At least one token or user is required; each needs at least
// one project. Names and hashes are unique.
//
// users log in with SSH keys instead of tokens (fwd service ... without a
// token signs a challenge with ssh-agent's keys, --ssh-key, or
// ~/.ssh/id_ed25519, id_ecdsa or id_rsa). A user's name is a login name
// (letters, digits, '.', '_', '-', '@'; unique). Its keys are
// authorized_keys lines in ssh_keys, or in the file authorized_keys names
// (blank lines and # comments skipped; relative paths from the config's
// directory); key options such as from= or permitopen= are refused, since
// fwd would not honour them, and projects: scope the user instead. A key
// belongs to one user only. Projects are as for tokens. A user needs keys
// unless ssh_user_ca is set.
//
// ssh_user_ca is a CA public key (an authorized_keys line, or a file of
// them like OpenSSH's TrustedUserCAKeys), or a list of either. A user
// certificate it signed (ssh-keygen -s ca -I id -n bob -V +8h key.pub)
// logs in as the user its principals name, within its validity window;
// certificates with critical options are refused.
//
// ssh_listen is a host:port where the gateway also speaks SSH, so that a
// user with only OpenSSH can run ssh -N -L 5432:db.shop:5432 -p 2222
// bob@gateway. It takes the users above (keys and certificates, not
// tokens), and only direct-tcpip channels to <name>.<project>:<port> or a
// catalog hostname in the user's projects. The host key (ssh_host_key) is
// an OpenSSH private key file, made (ed25519) on first start when missing.
//
// metrics_listen is a host:port where the gateway serves plain HTTP for
// probes and Prometheus: /healthz answers 200 while the process runs,
// /readyz 200 once it serves with its catalog loaded and 503 before and
// while it drains, and /metrics its counters (sessions, streams, bytes,
// dial errors per target, login failures per reason, reloads) with the Go
// runtime's and the process's. It has no authentication: keep it on
// loopback or a network only the scraper reaches. It must not be listen's
// or ssh_listen's address. Without it nothing is served.
//
// projects, services and addons have names that clients use as hostnames
// (<name> and <name>.<project>), so each is a DNS label: 1 to 63 lowercase
// letters, digits and '-', not starting or ending with '-'. Project names are
// unique; within a project a name is used by one service or addon only.
// hostnames are extra DNS names for the hosts file; each may be claimed by
// one resource only, and must end in one of hostname_suffixes.
//
// hostname_suffixes lists the DNS suffixes the gateway serves, such as
// svc.cluster.local or shop.internal, so that a gateway cannot make clients
// write names of other domains to their hosts files. A hostname ends in a
// suffix when it equals it or ends in "." and the suffix. Suffixes are
// compared in lower case, and a leading "." is accepted and dropped. Without
// hostnames the key may be left out.
//
// Names that systems define for themselves are refused as hostnames and as
// suffixes: localhost, anything ending in .localhost or starting with
// localhost., anything starting with ip6- (ip6-localhost, ip6-allnodes) and
// broadcasthost. ReservedHostname tells them; MatchesSuffix applies
// hostname_suffixes to a name.
//
// Each service and addon needs at least one port. A port has a number
// (1-65535, unique per resource among TCP protocols and among UDP), an
// optional name (a DNS label, unique per resource), a protocol (HTTP, HTTP2,
// TCP or UDP in any case; default TCP) and at least one target: host:port
// addresses inside the private network, which the gateway dials round-robin.
// A target host is an IP address or a DNS name; its port is a number.
//
// expose lets tokens and users with expose: true publish ports of their
// own machines (fwd expose). domain and https_listen are required; a
// wildcard DNS record for *.domain points at the gateway, and tls names a
// certificate for *.domain (without it a self-signed one is made beside
// the config, which browsers warn about). Each HTTPS exposure is reached at
// https://PORTNAME--NAME--LABEL.domain, routed by the TLS server name and
// the Host header; LABEL is leased per login, project and name for
// lease_ttl, kept in lease_file (written atomically, mode 0600), so that
// a URL survives reconnects and restarts. tcp_ports is a range
// ("30000-30999") TCP exposures lease a public port from, on tcp_host.
// The listeners and certificate are read at start only; a reload keeps
// them.
//
// limits are durations with a unit ("500ms", "5s", "2m") or counts. Every
// limit must be positive, except idle_timeout where 0 means never.
// max_handshakes bounds the connections that have not yet finished the TLS
// handshake and the login, so that clients that connect and stall cannot
// exhaust the gateway; max_handshakes_per_source bounds them per client IP
// address, so that one client cannot take them all, and must not be more
// than max_handshakes.
//
// Unknown keys, duplicate keys, YAML merge keys (<<) and a second YAML
// document are errors, so that a typo is never silently ignored. Anchors and
// aliases (&name, *name) may be used to repeat a value.
//
// # Catalog from Kubernetes
//
// Instead of projects:, the catalog may come from a Kubernetes cluster
// (projects: and catalog: are exclusive):
//
//	catalog:
//	  kubernetes:
//	    kubeconfig: kubeconfig      # or in_cluster: true, in a pod
//	    namespaces: [shop, billing] # optional, default every namespace
//	    label_selector: team=a      # optional, as kubectl get services -l
//
// kubeconfig is a kubeconfig file (relative paths are from the config's
// directory); in_cluster: true uses the pod's service account instead.
// Exactly one is needed. The gateway needs only get, list and watch on
// services and on endpointslices (discovery.k8s.io); with namespaces: it
// watches each of them alone, so a Role in each will do, and without it a
// ClusterRole is needed. label_selector keeps the Services it selects.
//
// A namespace is a project and a Service a service, or an addon when it is
// labelled fwd.dev/kind: addon. Its ports are the Service's: the name (the
// number when unnamed), the port, TCP or UDP, and HTTP for appProtocol
// http, HTTP2 for h2c or grpc. The targets of a port are the ready
// endpoints of the Service's EndpointSlices, at the port of theirs with
// the same name; a port with none stays in the catalog, and a connection
// to it is refused until one is ready. Its hostnames are
// <svc>.<ns>.svc.cluster.local and <svc>.<ns>.svc: those two suffixes are
// added to hostname_suffixes when it does not list them. A Service the
// catalog cannot take (an SCTP-only one, say) is left out and logged,
// never the whole catalog. The catalog follows the cluster as it changes.
//
// A token's or user's projects are namespaces, which may appear after the
// gateway starts: they need not exist, only be names a namespace can have
// and, when namespaces: is set, among them.
//
// # Errors
//
// Load and Parse report the first problem as an *Error, printed on one line
// with the file, the line and usually the column, what is wrong and how to
// fix it:
//
//	gateway.yaml:14:17: port 70000 out of range: use 1-65535
//
// A file that Load cannot read is reported without a line:
//
//	gateway.yaml: no such file: check --config, or create it (see the README's "Gateway config")
//
// # Use
//
// A Config is not modified after Load or Parse returns it and may be read by
// any number of goroutines. Authenticate maps a client's token to its entry;
// NewToken, HashToken and TokenYAML help an admin add one.
package config
