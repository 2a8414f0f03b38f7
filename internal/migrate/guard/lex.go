package guard

import (
	"strings"
	"unicode/utf8"
)

// tokKind is the lexical class of a token.
type tokKind int

const (
	tokWord   tokKind = iota // an unquoted identifier or keyword; up holds it upper-cased
	tokQuoted                // a "quoted identifier"
	tokString                // a string literal: '…', E'…' (also the tail of B'…', X'…', U&'…')
	tokDollar                // a dollar-quoted string $tag$…$tag$; body holds what is between the tags
	tokNumber                // a numeric literal
	tokParam                 // a positional parameter $1
	tokPunct                 // an operator or punctuation: ( ) , ; . :: and the rest
	tokError                 // an unterminated string, quoted identifier, dollar quote or comment
)

// token is one lexeme with its position in the source.
type token struct {
	kind      tokKind
	text      string // the source text of the token
	up        string // tokWord: the word upper-cased
	body      string // tokDollar: the content between the tags; tokString: the unescaped value
	off, end  int    // byte offsets of the token in the source
	line, col int    // 1-based line and column (in characters) of the token's start
	bodyLine  int    // tokDollar: position of the first character of body
	bodyCol   int
}

// lexer splits SQL text into tokens, skipping white space and comments.
// It follows PostgreSQL's lexer (scan.l) with standard_conforming_strings
// on: a doubled quote stands for one in a string, and a backslash
// escapes only in E'…'.
type lexer struct {
	src       string
	pos       int
	line, col int // position of src[pos]
}

func newLexer(src string, line, col int) *lexer { return &lexer{src: src, line: line, col: col} }

// advance moves past n bytes, keeping line and col.
func (l *lexer) advance(n int) {
	for i := 0; i < n && l.pos < len(l.src); {
		r, size := utf8.DecodeRuneInString(l.src[l.pos:])
		if r == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.pos += size
		i += size
	}
}

func (l *lexer) peek(i int) byte {
	if l.pos+i < len(l.src) {
		return l.src[l.pos+i]
	}
	return 0
}

// all returns every token of the source.
func (l *lexer) all() []token {
	var toks []token
	for {
		t, ok := l.next()
		if !ok {
			return toks
		}
		toks = append(toks, t)
		if t.kind == tokError {
			return toks
		}
	}
}

// next returns the next token, false at the end of the source.
func (l *lexer) next() (token, bool) {
	if start, line, col, ok := l.skipSpace(); !ok {
		return l.errorToken(start, line, col), true
	}
	if l.pos >= len(l.src) {
		return token{}, false
	}
	start, line, col := l.pos, l.line, l.col
	t := token{off: start, line: line, col: col}
	c := l.src[l.pos]
	switch {
	case (c == 'E' || c == 'e') && l.peek(1) == '\'':
		l.advance(1)
		if !l.string(true, &t) {
			return l.errorToken(start, line, col), true
		}
		t.kind = tokString
	case c == '\'':
		if !l.string(false, &t) {
			return l.errorToken(start, line, col), true
		}
		t.kind = tokString
	case c == '"':
		if !l.quotedIdent(&t) {
			return l.errorToken(start, line, col), true
		}
		t.kind = tokQuoted
	case c == '$' && isDigit(l.peek(1)):
		l.advance(1)
		for isDigit(l.peek(0)) {
			l.advance(1)
		}
		t.kind = tokParam
	case c == '$':
		tag, ok := l.dollarTag()
		if !ok {
			l.advance(1)
			t.kind = tokPunct
			break
		}
		l.advance(len(tag))
		t.bodyLine, t.bodyCol = l.line, l.col
		i := strings.Index(l.src[l.pos:], tag)
		if i < 0 {
			return l.errorToken(start, line, col), true
		}
		t.body = l.src[l.pos : l.pos+i]
		l.advance(i + len(tag))
		t.kind = tokDollar
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.advance(1)
		}
		t.kind = tokWord
	case isDigit(c) || (c == '.' && isDigit(l.peek(1))):
		for l.pos < len(l.src) && (isIdentChar(l.src[l.pos]) || l.src[l.pos] == '.') {
			l.advance(1)
		}
		t.kind = tokNumber
	case c == ':' && l.peek(1) == ':':
		l.advance(2)
		t.kind = tokPunct
	default:
		l.advance(1)
		t.kind = tokPunct
	}
	t.end = l.pos
	t.text = l.src[start:l.pos]
	if t.kind == tokWord {
		t.up = strings.ToUpper(t.text)
	}
	return t, true
}

// errorToken ends the source: everything from start on is unreadable.
func (l *lexer) errorToken(start, line, col int) token {
	l.pos = len(l.src)
	return token{kind: tokError, text: l.src[start:], off: start, end: len(l.src), line: line, col: col}
}

// skipSpace skips white space and comments: -- to the end of the line,
// /* … */ nested as PostgreSQL nests them. ok is false for an unterminated
// block comment, with the comment's position.
func (l *lexer) skipSpace() (start, line, col int, ok bool) {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.advance(1)
		case c == '-' && l.peek(1) == '-':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peek(1) == '*':
			start, line, col := l.pos, l.line, l.col
			depth := 0
			for {
				if l.pos >= len(l.src) {
					return start, line, col, false
				}
				switch {
				case l.peek(0) == '/' && l.peek(1) == '*':
					depth++
					l.advance(2)
				case l.peek(0) == '*' && l.peek(1) == '/':
					depth--
					l.advance(2)
				default:
					l.advance(1)
				}
				if depth == 0 {
					break
				}
			}
		default:
			return 0, 0, 0, true
		}
	}
	return 0, 0, 0, true
}

// string reads a '…' literal at l.pos into t.body; escapes says whether a
// backslash escapes the next character (E'…'). Adjacent literals
// separated by white space with a newline continue the string, as in
// PostgreSQL; that is not needed for the guard, so they stay two tokens.
func (l *lexer) string(escapes bool, t *token) bool {
	l.advance(1) // the opening quote
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case escapes && c == '\\' && l.pos+1 < len(l.src):
			b.WriteByte(l.src[l.pos+1])
			l.advance(2)
		case c == '\'' && l.peek(1) == '\'':
			b.WriteByte('\'')
			l.advance(2)
		case c == '\'':
			l.advance(1)
			t.body = b.String()
			return true
		default:
			b.WriteByte(c)
			l.advance(1)
		}
	}
	return false
}

// quotedIdent reads a "…" identifier ("" doubles a quote) into t.body.
func (l *lexer) quotedIdent(t *token) bool {
	l.advance(1)
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '"' && l.peek(1) == '"':
			b.WriteByte('"')
			l.advance(2)
		case c == '"':
			l.advance(1)
			t.body = b.String()
			return true
		default:
			b.WriteByte(c)
			l.advance(1)
		}
	}
	return false
}

// dollarTag returns the opening tag at l.pos ($$ or $name$), if any. A
// tag's name is an identifier without $ that does not start with a digit.
func (l *lexer) dollarTag() (string, bool) {
	i := l.pos + 1
	if i < len(l.src) && !isIdentStart(l.src[i]) && l.src[i] != '$' {
		return "", false
	}
	for i < len(l.src) && l.src[i] != '$' {
		if !isIdentChar(l.src[i]) || l.src[i] == '$' {
			return "", false
		}
		i++
	}
	if i >= len(l.src) {
		return "", false
	}
	return l.src[l.pos : i+1], true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIdentStart: a letter, underscore or any non-ASCII byte (PostgreSQL
// takes bytes 0x80-0xFF as letters).
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

// isIdentChar: a character that continues an identifier, $ included.
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }
