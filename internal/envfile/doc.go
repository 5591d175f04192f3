// Package envfile writes fwd's variables, the forwards' connection
// details, into a .env file while fwd runs (fwd --env-file), as KEY=value
// lines in a fenced block that this process owns and removes when it
// exits; a block whose owner died is removed by the next Set or by Clean.
// The markers, the lock, the atomic write and the crash recovery are
// internal/blockfile's, the same as for the hosts file:
//
//	DATABASE_URL=postgres://me@localhost/app
//	# fwd begin pid=1234 start=98765 session=ab12cd34ef567890 — do not edit, removed when fwd exits
//	DB_HOST=127.1.2.3
//	DB_PASSWORD='s3cret pass#1'
//	# fwd end session=ab12cd34ef567890
//
// Every other byte of the file stays as it was. A missing file is created
// with mode 0600, as it may hold passwords; an existing one keeps its mode.
//
// # Readers
//
// A value is written so that bash (set -a; . FILE), docker compose,
// python-dotenv and direnv's dotenv all read it back exactly: plain when
// it is made of letters, digits and _-.,/:@%+= only, else single-quoted,
// else (it holds a ') double-quoted with \ and " escaped. A value no form
// carries to all of them (a line break, python-dotenv's ${...} which it
// expands however quoted, ' together with $, a final \ ...) is refused
// with ErrInvalidVar rather than written to be read wrong.
//
// These readers disagree on which of two definitions of a key wins, so Set
// never writes a key that a line of the user's already defines.
package envfile
