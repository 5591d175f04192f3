// A module outside fwd's, wired to it with a replace line: its test proves
// that a program can build a gateway and a client from fwd's exported API
// alone. .ci/run runs it.
module example.com/outside

go 1.26.0

require github.com/fwd-dev/fwd v0.0.0

require (
	github.com/txn2/txeh v1.8.1 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace github.com/fwd-dev/fwd => ../..
