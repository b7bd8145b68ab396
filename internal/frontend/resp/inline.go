package resp

// splitInline splits an inline command line into arguments with Redis's
// quoting rules:
//
//   - arguments are separated by spaces, tabs and other ASCII white space;
//   - "double quotes" group an argument and understand the escapes \n \r \t
//     \b \a, \xHH (two hex digits) and \<any other byte> for that byte;
//   - 'single quotes' group an argument and understand only \';
//   - a quote may begin inside an unquoted argument (a"b c" is `ab c`), but a
//     closing quote must be followed by white space or the end of the line.
//
// ok is false for an unterminated quote or a closing quote followed by
// another character.
func splitInline(line []byte) (args [][]byte, ok bool) {
	for i := 0; ; {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, true
		}
		arg, next, ok := inlineArg(line, i)
		if !ok {
			return nil, false
		}
		args = append(args, arg)
		i = next
	}
}

// inlineArg scans the argument starting at line[i] (not white space) and
// returns it with the index just past it.
func inlineArg(line []byte, i int) (arg []byte, next int, ok bool) {
	arg = []byte{}
	for i < len(line) && !isSpace(line[i]) {
		switch line[i] {
		case '"':
			arg, i, ok = doubleQuoted(line, i+1, arg)
		case '\'':
			arg, i, ok = singleQuoted(line, i+1, arg)
		default:
			arg, i, ok = append(arg, line[i]), i+1, true
		}
		if !ok {
			return nil, 0, false
		}
	}
	return arg, i, true
}

// doubleQuoted appends the quoted text starting at line[i] (just past the
// opening quote) to arg.
func doubleQuoted(line []byte, i int, arg []byte) ([]byte, int, bool) {
	for i < len(line) {
		c := line[i]
		switch {
		case c == '"':
			return arg, i + 1, closedWell(line, i+1)
		case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
			arg = append(arg, unhex(line[i+2])<<4|unhex(line[i+3]))
			i += 4
		case c == '\\' && i+1 < len(line):
			arg = append(arg, unescape(line[i+1]))
			i += 2
		default:
			arg = append(arg, c)
			i++
		}
	}
	return nil, 0, false
}

// singleQuoted is doubleQuoted for single quotes.
func singleQuoted(line []byte, i int, arg []byte) ([]byte, int, bool) {
	for i < len(line) {
		c := line[i]
		switch {
		case c == '\'':
			return arg, i + 1, closedWell(line, i+1)
		case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
			arg = append(arg, '\'')
			i += 2
		default:
			arg = append(arg, c)
			i++
		}
	}
	return nil, 0, false
}

// closedWell reports whether a closing quote just before line[i] ends its
// argument.
func closedWell(line []byte, i int) bool { return i == len(line) || isSpace(line[i]) }

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
