package hosts

import "github.com/fwd-dev/fwd/internal/blockfile"

// fileSystem is every file operation an update makes on the hosts file and
// its directory, passed on to the shared block machinery. Tests give one
// whose Rename fails the way it does when the hosts file is a bind mount
// (as in containers).
type fileSystem = blockfile.FileSystem
