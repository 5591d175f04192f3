// Package hosts adds and removes fwd's hostnames in a hosts file without
// disturbing anything else in it, even with several fwd processes at once
// and after one of them crashed.
//
// # Format
//
// Each owner (one fwd process, or one session inside it) has at most one
// block, fenced by marker comments:
//
//	# fwd begin pid=1234 start=98765 session=ab12cd34ef567890 — do not edit, removed when fwd exits
//	127.1.2.3 api api.shop
//	127.1.2.4 db db.shop
//	# fwd end session=ab12cd34ef567890
//
// pid and start (the process start time, see [Owner]) let [File.Clean]
// tell whether the writer still runs; session tells apart writers inside
// one process. The begin marker carries " nl=added" when the file's last
// line had no newline and the block's writer had to add one; removing the
// block takes it away again.
//
// Everything between a begin marker and the next end marker with the same
// session belongs to the block. A begin marker without its end marker (a
// user edited the file) owns only its own line: the lines after it are
// treated as the user's and are never changed, and Remove and Clean delete
// only that marker line. End markers without a begin marker are left alone.
//
// # Every other byte stays
//
// Every byte outside fwd's blocks stays as it was: comments, blank lines,
// CRLF or mixed line endings, odd whitespace, a missing final newline. Set
// followed by Remove gives back the original file byte for byte. New lines
// take the line ending of the file's last terminated line. SetUnshadowed
// leaves out of fwd's block any name that a line outside the blocks maps,
// so fwd never shadows the user's own entries.
//
// # Locking
//
// Each change is a read-modify-write under an exclusive advisory lock on a
// lock file beside the hosts file (".hosts.fwd.lock"; flock on Unix,
// LockFileEx on Windows) and a mutex of the File, so concurrent writers in
// any number of processes never lose each other's blocks. Readers take the
// lock shared. A holder keeps it for milliseconds; a writer that waits
// longer than File.LockWait (10 s by default: the holder is a stopped
// process) gives up with ErrLockBusy naming the lock file.
//
// # Atomic replacement
//
// The new content goes to a temporary file in the same directory, is
// synced, gets the hosts file's mode (and, as root, its owner) and is
// renamed over the hosts file, so readers and crashes see the old file or
// the new one, never a mix. Temporary files are removed, including those
// of a writer killed mid-write. A symlinked hosts file is updated at its
// target, so the link stays a link.
//
// # Bind mounts and crashes
//
// Where rename cannot work, because the hosts file is a bind mount as in
// containers, the content is written in place instead: the old content is
// first saved and synced beside the file (".hosts.fwd-backup"), and that
// backup is removed only once the new content is synced. A writer killed,
// or a machine losing power, in between leaves the backup, and the next
// Set, Remove, Clean or Blocks, of any process, puts it back before doing
// anything else, so the interrupted change is undone and no line is lost.
package hosts
