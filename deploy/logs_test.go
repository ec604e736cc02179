package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// logLevels maps the slog.Logger methods that take the message as their
// first argument to the level that they log at.
var logLevels = map[string]string{"Debug": "DEBUG", "Info": "INFO", "Warn": "WARN", "Error": "ERROR"}

// logMessage is one message that the Go sources pass to a slog.Logger.
type logMessage struct {
	level string
	file  string // relative to the module root
}

// sourceLogMessages returns the messages of the calls
// x.Debug/Info/Warn/Error("literal", ...) in the non-test Go files of the
// module, by message. A message logged at two levels keeps the first.
func sourceLogMessages(t *testing.T) map[string]logMessage {
	t.Helper()
	root := ".."
	messages := map[string]logMessage{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			level, ok := logLevels[sel.Sel.Name]
			if !ok {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			msg, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if _, seen := messages[msg]; !seen {
				messages[msg] = logMessage{level: level, file: filepath.ToSlash(rel)}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return messages
}

func TestSourceLogMessagesParser(t *testing.T) {
	messages := sourceLogMessages(t)
	for msg, level := range map[string]string{
		"linkbolt started": "INFO",
		"holding clicks until the disk has space; clicks beyond the queue are dropped": "WARN",
		"recording clicks failed; dropping clicks until writes succeed":                "ERROR",
	} {
		got, ok := messages[msg]
		if !ok {
			t.Errorf("message %q not found in the Go sources", msg)
			continue
		}
		if got.level != level {
			t.Errorf("message %q: level %s, want %s", msg, got.level, level)
		}
	}
}

// Patterns of docs/operations.md: a row of the log table, a code span, and
// the msg filter of a Loki query.
var (
	logTableRow = regexp.MustCompile(`^\| (DEBUG|INFO|WARN|ERROR) \| (.*?) \|`)
	codeSpan    = regexp.MustCompile("`([^`]+)`")
	lokiMsg     = regexp.MustCompile(`msg="((?:[^"\\]|\\.)*)"`)
)

// TestDocsLogMessages checks the log messages that docs/operations.md
// quotes. Each row of its log table names messages that the sources log
// verbatim at that level, and every Loki msg filter matches a message
// exactly. No code span quotes only the start of a message. The table
// lists every message logged at WARN or ERROR.
func TestDocsLogMessages(t *testing.T) {
	messages := sourceLogMessages(t)
	if len(messages) < 10 {
		t.Fatalf("found only %d log messages in the Go sources", len(messages))
	}
	data, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	text := proseText(doc)

	var tabled []string
	for line := range strings.Lines(doc) {
		row := logTableRow.FindStringSubmatch(line)
		if row == nil {
			continue
		}
		for _, span := range codeSpan.FindAllStringSubmatch(row[2], -1) {
			msg := span[1]
			tabled = append(tabled, msg)
			got, ok := messages[msg]
			if !ok {
				t.Errorf("the log table lists %q, which no Go source logs", msg)
				continue
			}
			if got.level != row[1] {
				t.Errorf("the log table lists %q at %s, but %s logs it at %s", msg, row[1], got.file, got.level)
			}
		}
	}
	if len(tabled) == 0 {
		t.Fatalf("%s has no log table with rows like | ERROR | `message` | ... |", operationsDoc)
	}

	for _, m := range lokiMsg.FindAllStringSubmatch(text, -1) {
		if _, ok := messages[m[1]]; !ok {
			t.Errorf("the Loki query filter msg=%q matches no log message exactly", m[1])
		}
	}

	for _, span := range codeSpan.FindAllStringSubmatch(text, -1) {
		quoted := span[1]
		if _, ok := messages[quoted]; ok || !strings.Contains(quoted, " ") {
			continue
		}
		for msg := range messages {
			if strings.HasPrefix(msg, quoted) {
				t.Errorf("%s quotes `%s`, only the start of the log message %q", operationsDoc, quoted, msg)
			}
		}
	}

	for msg, m := range messages {
		if (m.level == "WARN" || m.level == "ERROR") && !slices.Contains(tabled, msg) {
			t.Errorf("%s logs %q at %s, but the log table of %s does not list it", m.file, msg, m.level, operationsDoc)
		}
	}
}

// proseText returns a Markdown text without its fenced code blocks
// (indented fences included), with
// each line break turned into a space, so that a code span wrapped over
// two lines reads as it renders.
func proseText(markdown string) string {
	var b strings.Builder
	inCode := false
	for line := range strings.Lines(markdown) {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			b.WriteString(strings.TrimRight(line, "\n"))
			b.WriteByte(' ')
		}
	}
	return b.String()
}
