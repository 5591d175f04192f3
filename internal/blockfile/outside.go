package blockfile

// Outside returns the text of every line of data that is in no fwd block:
// the user's own lines, as SetFunc hands them to a codec, for a caller
// that only reads them (fwd doctor looking for names a user maps).
func Outside(data []byte) []string {
	return outside(data)
}
