package resp

// Redis glob patterns, as KEYS, SCAN MATCH and CONFIG GET use them:
//
//	*       any run of bytes, including none
//	?       any one byte
//	[abc]   one byte of the set; [^abc] one byte not in it; [a-z] a range
//	        (reversed ranges are swapped); \x in a set is x; a set left open
//	        runs to the end of the pattern; [] matches nothing
//	\x      x itself; a trailing \ is itself
//
// Matching is on bytes and case-sensitive. It backtracks only to the last
// star, so it takes O(len(pattern)·len(s)) time whatever the pattern.

// match reports whether s matches the glob pattern p.
func match(p, s []byte) bool {
	pi, si := 0, 0
	star, starS := -1, 0 // the last star seen and where its match ends
	for si < len(s) {
		if pi < len(p) && p[pi] == '*' {
			star, starS = pi, si
			pi++
			continue
		}
		if pi < len(p) {
			if width, ok := matchOne(p, pi, s[si]); ok {
				pi, si = pi+width, si+1
				continue
			}
		}
		if star < 0 {
			return false
		}
		starS++
		pi, si = star+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchOne matches byte c against the pattern token at p[i] (not a star)
// and returns the token's width in the pattern.
func matchOne(p []byte, i int, c byte) (width int, ok bool) {
	switch p[i] {
	case '?':
		return 1, true
	case '[':
		return matchSet(p, i, c)
	case '\\':
		if i+1 < len(p) {
			return 2, p[i+1] == c
		}
	}
	return 1, p[i] == c
}

// matchSet matches c against the set starting at p[i] == '['.
func matchSet(p []byte, i int, c byte) (width int, ok bool) {
	j := i + 1
	negate := j < len(p) && p[j] == '^'
	if negate {
		j++
	}
	in := false
	for j < len(p) {
		switch {
		case p[j] == '\\' && j+1 < len(p):
			in = in || p[j+1] == c
			j += 2
		case p[j] == ']':
			return j + 1 - i, in != negate
		case j+2 < len(p) && p[j+1] == '-':
			lo, hi := min(p[j], p[j+2]), max(p[j], p[j+2])
			in = in || lo <= c && c <= hi
			j += 3
		default:
			in = in || p[j] == c
			j++
		}
	}
	return j - i, in != negate
}

// literalPrefix is the longest prefix every key matching p starts with:
// the pattern up to its first wildcard, escapes resolved. Scans use it to
// read only the keys that can match.
func literalPrefix(p []byte) []byte {
	var out []byte
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[':
			return out
		case '\\':
			if i+1 < len(p) {
				i++
			}
		}
		out = append(out, p[i])
	}
	return out
}
