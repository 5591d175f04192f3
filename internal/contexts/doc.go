// Package contexts keeps the client's saved gateways, "contexts" as kubectl
// and gh have them, so that fwd login, fwd context, fwd logout, --context
// and FWD_CONTEXT need --gateway, --fingerprint and --token only once.
//
// A Store is one directory, by default $XDG_CONFIG_HOME/fwd (else the OS's
// config directory: ~/.config/fwd on Linux), mode 0700.
//
// config.yaml, mode 0600, holds the contexts and which one is current. No
// token is ever written to it, so it can be shown or shared:
//
//	current: prod
//	contexts:
//	  - name: prod
//	    gateway: gw.example.com:7443
//	    fingerprint: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    project: web
//	  - name: staging
//	    gateway: 10.0.0.5:7443
//	    ca: /home/me/staging-ca.pem
//
// credentials.yaml, mode 0600, holds the tokens of the contexts whose token
// is not in the system keyring (there is none, it failed, or
// Options.NoKeyring), by context name:
//
//	tokens:
//	  prod: fwd_5e9a...
//
// config.lock and credentials.lock are empty files whose exclusive lock
// (flock, LockFileEx) every change holds while it reads, changes and
// writes, so that two fwd logins at once lose neither context. Files are
// replaced whole by an atomic rename, so readers take no lock and never see
// half a file.
//
// Tokens go to the OS keyring (Keychain, Credential Manager, Secret
// Service) under service "fwd" and the context's name where there is one
// that works; Store.SaveToken says how the package decides.
//
// A file that cannot be read as written is never rewritten: its problem
// comes back as a *FileError naming file:line:column, and every change
// fails until the user fixes or removes the file.
package contexts
