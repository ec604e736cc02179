package server

import (
	"encoding/csv"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// targetURLCase is one original_url and the error message checkTargetURL
// is expected to return, or "" when the URL is valid.
type targetURLCase struct {
	name    string
	raw     string
	wantErr string
}

const (
	msgTargetURL  = "original_url must be an absolute http or https URL with a host"
	msgTargetHost = "original_url host must be a valid domain name or a bracketed IPv6 address"
	msgTargetPort = "original_url port must be a number from 1 to 65535"
	msgTargetChar = "original_url must not contain spaces or control characters"
	msgTargetUser = "original_url must not contain a user name or password"
)

// checkTargetURLCases is also the seed corpus of FuzzCheckTargetURL.
var checkTargetURLCases = []targetURLCase{
	// Valid URLs.
	{name: "https domain", raw: "https://example.com"},
	{name: "http with path query fragment", raw: "http://example.com/a/b?x=1#top"},
	{name: "uppercase scheme and host", raw: "HTTPS://Example.COM/Path"},
	{name: "mixed case scheme", raw: "hTTp://example.com/"},
	{name: "port", raw: "http://example.com:8080/x"},
	{name: "port 1", raw: "http://example.com:1/"},
	{name: "port 65535", raw: "http://example.com:65535/"},
	{name: "port with leading zeros", raw: "http://example.com:0080/"},
	{name: "ipv4 host", raw: "http://127.0.0.1:8080/health"},
	{name: "ipv6 loopback with port", raw: "http://[::1]:8080/x"},
	{name: "ipv6 without port", raw: "https://[2001:db8::1]/"},
	{name: "ipv4 mapped ipv6", raw: "http://[::ffff:192.0.2.1]/"},
	{name: "unicode host path query", raw: "https://bücher.example/straße?q=ü"},
	{name: "unicode host with port", raw: "https://bücher.example:8443/x"},
	{name: "punycode host", raw: "https://xn--bcher-kva.example/"},
	{name: "fullwidth host", raw: "https://ｅｘａｍｐｌｅ.com/"},
	{name: "ideographic full stop", raw: "https://例え。jp/"},
	{name: "underscore in host", raw: "https://foo_bar.example/"},
	{name: "triple hyphen label", raw: "https://r3---sn-abc.example/v"},
	{name: "trailing dot host", raw: "https://example.com./"},
	{name: "escapes plus repeated params", raw: "https://x.example/a%2Bb%2F%25?q=a+b&q=c&flag#frag"},
	{name: "query only after host", raw: "https://example.com?a=1"},
	{name: "fragment only after host", raw: "https://example.com#a"},
	{name: "invalid escape in query", raw: "https://example.com/?q=%zz"},
	{name: "non-ascii fragment", raw: "https://example.com/#straße"},
	{name: "emoji path", raw: "https://example.com/😀"},
	{name: "exactly max length", raw: "https://example.com/" + strings.Repeat("a", maxOriginalURLBytes-20)},
	{name: "label of 63 bytes", raw: "https://" + strings.Repeat("a", 63) + ".example/"},

	// Not an absolute http or https URL with a host.
	{name: "empty", raw: "", wantErr: msgTargetURL},
	{name: "word", raw: "hello", wantErr: msgTargetURL},
	{name: "not a url", raw: "not-a-url", wantErr: msgTargetURL},
	{name: "ftp scheme", raw: "ftp://x", wantErr: msgTargetURL},
	{name: "javascript scheme", raw: "javascript:alert(1)", wantErr: msgTargetURL},
	{name: "javascript scheme with slashes", raw: "javascript://example.com/%0Aalert(1)", wantErr: msgTargetURL},
	{name: "data scheme", raw: "data:text/html,x", wantErr: msgTargetURL},
	{name: "file scheme", raw: "file:///etc/passwd", wantErr: msgTargetURL},
	{name: "no host", raw: "http://", wantErr: msgTargetURL},
	{name: "empty host with path", raw: "http:///path", wantErr: msgTargetURL},
	{name: "empty host with port", raw: "http://:80/", wantErr: msgTargetURL},
	{name: "opaque http", raw: "http:example.com", wantErr: msgTargetURL},
	{name: "one slash", raw: "http:/example.com", wantErr: msgTargetURL},
	{name: "scheme relative", raw: "//example.com/x", wantErr: msgTargetURL},
	{name: "relative path", raw: "/relative/path", wantErr: msgTargetURL},
	{name: "backslashes", raw: `http:\\evil.example`, wantErr: msgTargetURL},
	{name: "scheme with space before", raw: "xhttp://example.com", wantErr: msgTargetURL},
	{name: "bad escape in path", raw: "http://example.com/%zz", wantErr: msgTargetURL},
	{name: "bad escape in fragment", raw: "http://example.com/#%zz", wantErr: msgTargetURL},

	// Characters.
	{name: "space in host", raw: "https://exa mple.com", wantErr: msgTargetChar},
	{name: "space in path", raw: "https://example.com/a b", wantErr: msgTargetChar},
	{name: "newline", raw: "http://a\nb", wantErr: msgTargetChar},
	{name: "carriage return", raw: "http://example.com/\r\nSet-Cookie:x", wantErr: msgTargetChar},
	{name: "tab", raw: "http://example.com/\t", wantErr: msgTargetChar},
	{name: "nul", raw: "http://example.com/\x00", wantErr: msgTargetChar},
	{name: "del", raw: "http://example.com/\x7f", wantErr: msgTargetChar},
	{name: "no-break space", raw: "http://example.com/a\u00a0b", wantErr: msgTargetChar},
	{name: "c1 next line", raw: "http://example.com/a\u0085b", wantErr: msgTargetChar},
	{name: "line separator", raw: "http://example.com/a\u2028b", wantErr: msgTargetChar},
	{name: "ideographic space", raw: "http://example.com/a\u3000b", wantErr: msgTargetChar},
	{name: "invalid utf-8", raw: "http://example.com/\xff", wantErr: "original_url is not valid UTF-8"},
	{name: "one byte over max", raw: "https://example.com/" + strings.Repeat("a", maxOriginalURLBytes-19), wantErr: "original_url is longer than 8192 bytes"},

	// Userinfo.
	{name: "user and password", raw: "http://user:pass@example.com/", wantErr: msgTargetUser},
	{name: "empty userinfo", raw: "http://@example.com/", wantErr: msgTargetUser},
	{name: "look-alike userinfo", raw: "https://bank.example@evil.example/", wantErr: msgTargetUser},
	{name: "backslash before at", raw: `http://good.example\@evil.example/`, wantErr: msgTargetUser},

	// Ports.
	{name: "port 0", raw: "http://example.com:0/", wantErr: msgTargetPort},
	{name: "port 65536", raw: "http://example.com:65536/", wantErr: msgTargetPort},
	{name: "huge port", raw: "http://example.com:99999999999999999999/", wantErr: msgTargetPort},
	{name: "empty port", raw: "http://example.com:/", wantErr: msgTargetPort},
	{name: "letters in port", raw: "http://example.com:abc/", wantErr: msgTargetPort},
	{name: "signed port", raw: "http://example.com:+80/", wantErr: msgTargetPort},
	{name: "two colons", raw: "http://a:b:80/", wantErr: msgTargetHost},
	{name: "ipv6 bad port", raw: "http://[::1]:0/", wantErr: msgTargetPort},

	// Hosts.
	{name: "ipv6 without brackets", raw: "http://::1/", wantErr: msgTargetHost},
	{name: "ipv6 unclosed bracket", raw: "http://[::1/", wantErr: msgTargetHost},
	{name: "ipv6 text after bracket", raw: "http://[::1]x/", wantErr: msgTargetHost},
	{name: "ipv6 zone", raw: "http://[fe80::1%25eth0]/", wantErr: msgTargetHost},
	{name: "bracketed ipv4", raw: "http://[192.0.2.1]/", wantErr: msgTargetHost},
	{name: "bracketed name", raw: "http://[example.com]/", wantErr: msgTargetHost},
	{name: "angle bracket in host", raw: "http://x<y.example/", wantErr: msgTargetHost},
	{name: "star in host", raw: "http://*.example.com/", wantErr: msgTargetHost},
	{name: "fullwidth solidus in host", raw: "http://good.example／evil.example/", wantErr: msgTargetHost},
	{name: "fullwidth colon in host", raw: "http://example.com：81/", wantErr: msgTargetHost},
	{name: "fullwidth at in host", raw: "http://bank.example＠evil.example/", wantErr: msgTargetHost},
	{name: "percent-encoded host", raw: "http://b%C3%BCcher.example/", wantErr: msgTargetHost},
	{name: "empty label", raw: "http://a..example/", wantErr: msgTargetHost},
	{name: "leading dot", raw: "http://.example.com/", wantErr: msgTargetHost},
	{name: "only a dot", raw: "http://./", wantErr: msgTargetHost},
	{name: "two trailing dots", raw: "http://example.com../", wantErr: msgTargetHost},
	{name: "invalid punycode", raw: "http://xn--zz.example/", wantErr: msgTargetHost},
	{name: "bidi rule violation", raw: "http://\u0661.com/", wantErr: msgTargetHost},
	{name: "bidi rule violation after mapping", raw: "http://a\u2135b.example/", wantErr: msgTargetHost},
	{name: "label of 64 bytes", raw: "https://" + strings.Repeat("a", 64) + ".example/", wantErr: msgTargetHost},
	{name: "host of 254 bytes", raw: "https://" + strings.Repeat(strings.Repeat("a", 62)+".", 4) + "ab/", wantErr: msgTargetHost},
}

func TestCheckTargetURL(t *testing.T) {
	for _, tc := range checkTargetURLCases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTargetURL(tc.raw)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkTargetURL(%q) = %v, want nil", tc.raw, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkTargetURL(%q) = nil, want error %q", tc.raw, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("checkTargetURL(%q) = %q, want prefix %q", tc.raw, err, tc.wantErr)
			}
		})
	}
}

func TestLocationFor(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{
			name: "ascii escapes unchanged",
			raw:  "https://x.example/a%2Bb%2F%25?q=a+b&q=c&flag#frag",
			want: "https://x.example/a%2Bb%2F%25?q=a+b&q=c&flag#frag",
		},
		{
			name: "repeated and valueless params unchanged",
			raw:  "https://x.example/?a=1&a=2&b&&c=",
			want: "https://x.example/?a=1&a=2&b&&c=",
		},
		{
			name: "ascii case unchanged",
			raw:  "HTTPS://Example.COM/A?B=C#D",
			want: "HTTPS://Example.COM/A?B=C#D",
		},
		{
			name: "ascii lowercase escapes unchanged",
			raw:  "https://example.com/a%2fb%c3%bc",
			want: "https://example.com/a%2fb%c3%bc",
		},
		{
			name: "ascii punycode host unchanged",
			raw:  "https://xn--bcher-kva.example/",
			want: "https://xn--bcher-kva.example/",
		},
		{
			name: "ipv6 unchanged",
			raw:  "http://[::1]:8080/x",
			want: "http://[::1]:8080/x",
		},
		{
			name: "unicode host and path",
			raw:  "https://bücher.example/straße",
			want: "https://xn--bcher-kva.example/stra%C3%9Fe",
		},
		{
			name: "unicode host with port",
			raw:  "https://bücher.example:8443/x",
			want: "https://xn--bcher-kva.example:8443/x",
		},
		{
			name: "unicode host only",
			raw:  "https://bücher.example",
			want: "https://xn--bcher-kva.example",
		},
		{
			name: "unicode host then query",
			raw:  "https://bücher.example?q=ü",
			want: "https://xn--bcher-kva.example?q=%C3%BC",
		},
		{
			name: "unicode host then fragment",
			raw:  "https://bücher.example#ü",
			want: "https://xn--bcher-kva.example#%C3%BC",
		},
		{
			name: "nontransitional sharp s",
			raw:  "https://straße.de/",
			want: "https://xn--strae-oqa.de/",
		},
		{
			name: "fullwidth host mapped",
			raw:  "https://ＥＸＡＭＰＬＥ.com/",
			want: "https://example.com/",
		},
		{
			name: "ideographic full stop mapped",
			raw:  "https://例え。jp/",
			want: "https://xn--r8jz45g.jp/",
		},
		{
			name: "non-ascii query keeps ascii escapes",
			raw:  "https://example.com/search?q=ü&r=%C3%BC&s=a+b",
			want: "https://example.com/search?q=%C3%BC&r=%C3%BC&s=a+b",
		},
		{
			name: "non-ascii fragment",
			raw:  "https://example.com/page#straße",
			want: "https://example.com/page#stra%C3%9Fe",
		},
		{
			name: "ascii host keeps case",
			raw:  "https://Example.COM:8080/ü",
			want: "https://Example.COM:8080/%C3%BC",
		},
		{
			name: "ipv6 host non-ascii path",
			raw:  "http://[::1]:8080/ü",
			want: "http://[::1]:8080/%C3%BC",
		},
		{
			name: "four byte rune",
			raw:  "https://example.com/😀",
			want: "https://example.com/%F0%9F%98%80",
		},
		{
			name: "uppercase scheme with unicode host",
			raw:  "HTTP://Bücher.example/",
			want: "HTTP://xn--bcher-kva.example/",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkTargetURL(tc.raw); err != nil {
				t.Fatalf("checkTargetURL(%q) = %v, want a valid test input", tc.raw, err)
			}
			if got := locationFor(tc.raw); got != tc.want {
				t.Errorf("locationFor(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestLocationForValidTargets(t *testing.T) {
	for _, tc := range checkTargetURLCases {
		if tc.wantErr != "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			got := locationFor(tc.raw)
			if i := indexNotPrintableASCII(got); i >= 0 {
				t.Errorf("locationFor(%q) = %q, byte %d is %#x", tc.raw, got, i, got[i])
			}
		})
	}
}

func TestPercentEncodeNonASCII(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: ""},
		{name: "ascii", in: "/a%2Fb?c=d#e", want: "/a%2Fb?c=d#e"},
		{name: "two byte rune", in: "/ü", want: "/%C3%BC"},
		{name: "invalid utf-8 byte", in: "/\xff", want: "/%FF"},
		{name: "mixed", in: "ä-ö", want: "%C3%A4-%C3%B6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentEncodeNonASCII(tc.in); got != tc.want {
				t.Errorf("percentEncodeNonASCII(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCheckEmail(t *testing.T) {
	const msgForm = "email must be an address of the form name@example.com"
	const msgDomain = "email domain must be a domain name such as example.com"
	const msgChar = "email must not contain spaces or control characters"

	longLocal := strings.Repeat("l", maxEmailLocalBytes)
	// 189 bytes, so that a 64-byte local part makes a 254-byte address.
	longDomain := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 57) + ".com"

	tests := []struct {
		name    string
		email   string
		wantErr string
	}{
		{name: "seed address", email: "forestorbit68@opswise.net"},
		{name: "dots and plus tag", email: "first.last+tag@example.co.uk"},
		{name: "uppercase", email: "USER@EXAMPLE.COM"},
		{name: "apostrophe", email: "o'brien@example.com"},
		{name: "hyphen and underscore", email: "a_b-c@sub-domain.example"},
		{name: "localhost", email: "root@localhost"},
		{name: "uppercase localhost", email: "root@LOCALHOST"},
		{name: "ideographic full stop domain", email: "user@例え。jp"},
		{name: "unicode domain", email: "user@bücher.example"},
		{name: "unicode local part", email: "jürgen@example.com"},
		{name: "local part of 64 bytes", email: longLocal + "@example.com"},
		{name: "254 bytes", email: longLocal + "@" + longDomain},

		{name: "empty", email: "", wantErr: msgForm},
		{name: "no at", email: "plainaddress", wantErr: msgForm},
		{name: "empty local part", email: "@example.com", wantErr: msgForm},
		{name: "two ats", email: "a@b@example.com", wantErr: msgForm},
		{name: "double at", email: "user@@example.com", wantErr: msgForm},
		{name: "leading dot", email: ".user@example.com", wantErr: msgForm},
		{name: "trailing dot in local", email: "user.@example.com", wantErr: msgForm},
		{name: "consecutive dots", email: "us..er@example.com", wantErr: msgForm},
		{name: "quoted local part", email: `"john"@example.com`, wantErr: msgForm},
		{name: "angle brackets", email: "John <john@example.com>", wantErr: msgChar},
		{name: "comma", email: "a,b@example.com", wantErr: msgForm},
		{name: "empty domain", email: "user@", wantErr: msgDomain},
		{name: "domain without dot", email: "user@example", wantErr: msgDomain},
		{name: "domain leading dot", email: "user@.example.com", wantErr: msgDomain},
		{name: "domain empty label", email: "user@example..com", wantErr: msgDomain},
		{name: "domain trailing dot", email: "user@example.com.", wantErr: msgDomain},
		{name: "domain trailing ideographic stop", email: "user@example.com。", wantErr: msgDomain},
		{name: "domain ideographic stop only", email: "user@example。", wantErr: msgDomain},
		{name: "address literal", email: "user@[192.0.2.1]", wantErr: msgDomain},
		{name: "domain with port", email: "user@example.com:25", wantErr: msgDomain},
		{name: "invalid punycode domain", email: "user@xn--zz.com", wantErr: msgDomain},
		{name: "space in local part", email: "us er@example.com", wantErr: msgChar},
		{name: "space in domain", email: "user@exa mple.com", wantErr: msgChar},
		{name: "surrounding space", email: " user@example.com", wantErr: msgChar},
		{name: "newline", email: "user@example.com\n", wantErr: msgChar},
		{name: "nul", email: "user\x00@example.com", wantErr: msgChar},
		{name: "invalid utf-8", email: "\xff@example.com", wantErr: "email is not valid UTF-8"},
		{name: "local part of 65 bytes", email: longLocal + "l@example.com", wantErr: "email part before the @ is longer than 64 bytes"},
		{name: "255 bytes", email: longLocal + "@c" + longDomain, wantErr: "email is longer than 254 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkEmail(tc.email)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkEmail(%q) = %v, want nil", tc.email, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkEmail(%q) = nil, want error %q", tc.email, tc.wantErr)
			}
			if err.Error() != tc.wantErr {
				t.Errorf("checkEmail(%q) = %q, want %q", tc.email, err, tc.wantErr)
			}
		})
	}
}

func TestCheckUsername(t *testing.T) {
	const msgEmpty = "username must not be empty or only spaces"
	const msgControl = "username must not contain control characters or line breaks"

	tests := []struct {
		name     string
		username string
		wantErr  string
	}{
		{name: "seed username", username: "forestorbit68"},
		{name: "inner space", username: "Jane Doe"},
		{name: "surrounding spaces", username: "  bob  "},
		{name: "digits only", username: "12345"},
		{name: "accented", username: "josé"},
		{name: "emoji", username: "rocket🚀"},
		{name: "64 two-byte runes", username: strings.Repeat("é", 64)},
		{name: "64 four-byte runes", username: strings.Repeat("😀", 64)},

		{name: "empty", username: "", wantErr: msgEmpty},
		{name: "spaces only", username: "   ", wantErr: msgEmpty},
		{name: "tab only", username: "\t", wantErr: msgEmpty},
		{name: "no-break space only", username: "\u00a0", wantErr: msgEmpty},
		{name: "65 runes", username: strings.Repeat("é", 65), wantErr: "username is longer than 64 characters"},
		{name: "newline", username: "a\nb", wantErr: msgControl},
		{name: "tab inside", username: "a\tb", wantErr: msgControl},
		{name: "nul", username: "a\x00b", wantErr: msgControl},
		{name: "del", username: "a\x7f", wantErr: msgControl},
		{name: "c1 control", username: "a\u0085b", wantErr: msgControl},
		{name: "line separator", username: "a\u2028b", wantErr: msgControl},
		{name: "invalid utf-8", username: "a\xffb", wantErr: "username is not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkUsername(tc.username)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkUsername(%q) = %v, want nil", tc.username, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkUsername(%q) = nil, want error %q", tc.username, tc.wantErr)
			}
			if err.Error() != tc.wantErr {
				t.Errorf("checkUsername(%q) = %q, want %q", tc.username, err, tc.wantErr)
			}
		})
	}
}

// indexNotPrintableASCII returns the index of the first byte of s outside
// "!" to "~", or -1.
func indexNotPrintableASCII(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return i
		}
	}
	return -1
}

// TestSeedDataPassesChecks runs the validators over every row of the sample
// users.csv and urls.csv files that the bulk import routes must accept.
func TestSeedDataPassesChecks(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		columns map[string]func(string) error
	}{
		{name: "users", path: "users.csv", columns: map[string]func(string) error{"username": checkUsername, "email": checkEmail}},
		{name: "urls", path: "urls.csv", columns: map[string]func(string) error{"original_url": checkTargetURL}},
		{name: "set-b users", path: "set-b/users.csv", columns: map[string]func(string) error{"username": checkUsername, "email": checkEmail}},
		{name: "set-b urls", path: "set-b/urls.csv", columns: map[string]func(string) error{"original_url": checkTargetURL}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows := readSeedCSV(t, tc.path)
			for column, check := range tc.columns {
				index := slices.Index(rows[0], column)
				if index < 0 {
					t.Fatalf("%s has no %s column", tc.path, column)
				}
				for line, row := range rows[1:] {
					if err := check(row[index]); err != nil {
						t.Errorf("%s line %d: %s %q: %v", tc.path, line+2, column, row[index], err)
					}
				}
			}
		})
	}
}

// readSeedCSV reads a sample CSV file, header row included, from the data
// folder beside the checkout, and skips the test when the file is missing.
func readSeedCSV(t *testing.T, name string) [][]string {
	t.Helper()
	file, err := os.Open(filepath.Join("..", "..", "shared", "data", name))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("seed data not found: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()

	rows, err := csv.NewReader(file).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if len(rows) < 2 {
		t.Fatalf("%s has %d rows, want a header and data", name, len(rows))
	}
	return rows
}
