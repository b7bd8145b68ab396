package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// splitWords splits a shell line into words. Words are separated by spaces
// or tabs. "Double quotes" group a word and understand the escapes \" \\
// \n \t \r; 'single quotes' take everything literally; outside quotes a
// backslash makes the next character literal. Quotes may adjoin other text
// (a"b c" is one word, `ab c`), and "" is an empty word.
func splitWords(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '"':
			n, err := readDoubleQuoted(rs[i+1:], &cur)
			if err != nil {
				return nil, err
			}
			i += n
			inWord = true
		case r == '\'':
			end := slices.Index(rs[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated ' quote")
			}
			cur.WriteString(string(rs[i+1 : i+1+end]))
			i += end + 1
			inWord = true
		case r == '\\':
			if i+1 == len(rs) {
				return nil, errors.New("line ends with a lone \\")
			}
			i++
			cur.WriteRune(rs[i])
			inWord = true
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// readDoubleQuoted copies the inside of a double-quoted string starting
// after its opening quote to cur and returns how many runes it consumed,
// the closing quote included.
func readDoubleQuoted(rs []rune, cur *strings.Builder) (int, error) {
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 == len(rs) {
				return 0, errors.New("unterminated \" quote")
			}
			i++
			switch e := rs[i]; e {
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			case 'r':
				cur.WriteByte('\r')
			case '"', '\\':
				cur.WriteRune(e)
			default:
				return 0, fmt.Errorf("unknown escape \\%c in \" quote (use \\\\ for a backslash)", e)
			}
		default:
			cur.WriteRune(rs[i])
		}
	}
	return 0, errors.New("unterminated \" quote")
}
