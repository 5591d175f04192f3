// Package blockfile is what fwd's edits of shared text files have in
// common: the hosts file (package hosts) and a project's .env file
// (internal/envfile). In such a file each owner (one fwd process, or one
// session inside it) has at most one block of lines, fenced by marker
// comments, which it sets while it runs and removes when it exits; every
// other byte of the file is the user's and stays as it is.
//
// What goes inside a block is the caller's: it renders its content as
// lines (File.Set, SetFunc) and reads them back from Block.Body. This
// package owns the rest: the markers, finding the blocks, the lock, the
// atomic write, and reclaiming the blocks of owners that died.
//
// # Format
//
//	# fwd begin pid=1234 start=98765 session=ab12cd34ef567890 — do not edit, removed when fwd exits
//	... the block's lines ...
//	# fwd end session=ab12cd34ef567890
//
// The markers are the same in every kind of file, which therefore must
// take "#" lines as comments. pid and start (the process start time, see
// [Owner]) let [File.Clean] tell whether the writer still runs; session
// tells apart writers inside one process. The begin marker carries
// " nl=added" when the file's last line had no newline and the block's
// writer had to add one; removing the block takes it away again.
//
// Everything between a begin marker and the next end marker with the same
// session belongs to the block. A begin marker without its end marker (a
// user edited the file) owns only its own line: the lines after it are
// treated as the user's and are never changed, and Remove and Clean delete
// only that marker line. End markers without a begin marker are left alone.
//
// # Every other byte stays
//
// Comments, blank lines, CRLF or mixed line endings, a BOM, odd
// whitespace, a missing final newline: Set followed by Remove gives back
// the original file byte for byte. New lines take the line ending of the
// file's last terminated line (File.EOL in a file without one).
//
// # Locking
//
// Each change is a read-modify-write under an exclusive advisory lock on a
// lock file beside the file (".NAME.fwd.lock"; flock on Unix, LockFileEx
// on Windows) and a mutex of the File, so concurrent writers in any number
// of processes never lose each other's blocks. Readers take the lock
// shared. A holder keeps it for milliseconds; a writer that waits longer
// than File.LockWait gives up with ErrLockBusy naming the lock file.
//
// # Atomic replacement
//
// The new content goes to a temporary file in the same directory, is
// synced, gets the file's mode (and, as root, its owner) and is renamed
// over the file, so readers and crashes see the old file or the new one,
// never a mix. Temporary files are removed, including those of a writer
// killed mid-write. A symlinked file is updated at its target, so the link
// stays a link. A missing file is created with File.Mode.
//
// # Bind mounts and crashes
//
// Where rename cannot work, because the file is a bind mount as /etc/hosts
// is in containers, the content is written in place instead: the old
// content is first saved and synced beside the file (".NAME.fwd-backup"),
// and that backup is removed only once the new content is synced. A writer
// killed, or a machine losing power, in between leaves the backup, and the
// next Set, Remove, Clean or Blocks, of any process, puts it back before
// doing anything else, so the interrupted change is undone and no line is
// lost.
package blockfile
