// Package projectfile reads a project's fwd.yaml: the ports that `fwd
// expose` with no arguments publishes, so that a repository can say once
// how it is shared instead of every developer typing the same flags.
//
// # Where it is
//
// The project file is fwd.yaml, or .fwd.yaml for those who keep tool files
// hidden, in the directory fwd runs in. Find reads it. Both at once is an
// error rather than a precedence rule, since an edit to the one fwd ignores
// would silently do nothing.
//
// # File format
//
// An example with every key:
//
//	# fwd.yaml: what `fwd expose` with no arguments publishes
//	ports:
//	  - local_port: 3000
//	    name: web
//	    auth: demo:s3cret
//	  - local_port: 5432
//	    name: db
//	    tcp: true
//	  - local_port: 8080
//	    expose_localhost: true
//
// The only top-level key is ports:, a list of at least one port. Each port
// has these keys:
//
//   - local_port (required): the port on this machine to publish, 1-65535,
//     each at most once in the file.
//   - name: the exposure's name, part of its public address: a DNS label of
//     1-40 lowercase letters, digits and '-', not starting or ending with
//     '-' and without "--". Each name at most once. Without it, fwd picks
//     one.
//   - tcp: true publishes the port as a raw TCP port (for databases, SSH,
//     anything not HTTP) instead of as an HTTPS address. Default false.
//   - expose_localhost: true publishes the port even when the server
//     listens on loopback only (127.0.0.1 or ::1), which usually means its
//     author meant it to stay on this machine. Default false.
//   - auth: user:password asks visitors of an HTTPS exposure for HTTP basic
//     authentication. The user must not be empty. Not allowed with tcp:
//     true, where there is no HTTP to carry it.
//
// # Errors
//
// Every problem is reported as one line, path:line:column: what is wrong:
// what to do, so that editors can jump to it, and unknown keys come with
// the nearest known one:
//
//	fwd.yaml:3:5: unknown key "locl_port" in a port: did you mean "local_port"?
//
// A value's problem points at the value; a missing key at the port that
// lacks it. A password is never repeated in a message.
package projectfile
