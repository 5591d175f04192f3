package sockets

// ListeningTCP returns the listening TCP sockets, IPv4 and IPv6, sorted by
// port, address and inode, without their owners (PID 0, Program ""): it
// reads /proc/net/tcp and tcp6 only, cheap enough to poll. FillOwners then
// names the owners of the few sockets a caller cares about.
func ListeningTCP() ([]Listener, error) {
	return system.listeningTCP()
}

// FillOwners sets PID and Program of each of ls whose owner it finds, in
// one scan of /proc/*/fd that stops once every socket is found. Sockets of
// processes this user may not inspect keep PID 0, as with List.
func FillOwners(ls []Listener) {
	system.fillOwners(ls)
}
