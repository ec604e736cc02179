package server

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzCheckTargetURL(f *testing.F) {
	for _, tc := range checkTargetURLCases {
		f.Add(tc.raw)
	}
	for _, seed := range []string{
		"https://bücher.example:8443/straße?q=ü#ü",
		"http://user@bücher.example/",
		"http://[::1]:8080/ü",
		"https://example.com/?a=1&a=2&b#",
		"https://good.example?@evil.example/",
		"https://good.example#@evil.example/",
		"https://ex%61mple.com/",
		"https://xn--bcher-kva.example:443",
		"https://a.b.c.d.e.f.g.h/",
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		if checkTargetURL(raw) != nil {
			return
		}
		if len(raw) > maxOriginalURLBytes {
			t.Fatalf("accepted %d bytes, more than %d", len(raw), maxOriginalURLBytes)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, but url.Parse failed: %v", raw, err)
		}
		if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
			t.Fatalf("accepted %q with scheme %q", raw, u.Scheme)
		}
		if u.Hostname() == "" {
			t.Fatalf("accepted %q with an empty host", raw)
		}

		loc := locationFor(raw)
		if i := indexNotPrintableASCII(loc); i >= 0 {
			t.Fatalf("locationFor(%q) = %q, byte %d is %#x", raw, loc, i, loc[i])
		}
		if isASCIIOnly(raw) && loc != raw {
			t.Fatalf("locationFor(%q) = %q, want the ASCII input unchanged", raw, loc)
		}
		checkLocationHost(t, u, loc)
	})
}

// checkLocationHost fails t unless loc parses as a URL whose host is the
// ASCII form of target's host, and which checkTargetURL accepts when it is
// short enough.
func checkLocationHost(t *testing.T, target *url.URL, loc string) {
	t.Helper()
	locURL, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("url.Parse(locationFor(%q)) failed: %v", target, err)
	}
	want := target.Hostname()
	if !isASCIIOnly(want) {
		want, _ = hostIDNA.ToASCII(want)
	}
	if got := locURL.Hostname(); got != want {
		t.Fatalf("locationFor(%q) has host %q, want %q", target, got, want)
	}
	if locURL.Port() != target.Port() {
		t.Fatalf("locationFor(%q) has port %q, want %q", target, locURL.Port(), target.Port())
	}
	if len(loc) <= maxOriginalURLBytes {
		if err := checkTargetURL(loc); err != nil {
			t.Fatalf("checkTargetURL(locationFor(%q)) = %v", target, err)
		}
	}
}

func FuzzCheckEmail(f *testing.F) {
	for _, seed := range []string{
		"forestorbit68@opswise.net", "root@localhost", "user@bücher.example",
		"a@b@example.com", "user@[192.0.2.1]", "us..er@example.com", "",
		"user@example.com.", "user@xn--zz.com", "user@ｅｘａｍｐｌｅ.com",
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, email string) {
		if checkEmail(email) != nil {
			return
		}
		if len(email) > maxEmailBytes {
			t.Fatalf("accepted %d bytes, more than %d", len(email), maxEmailBytes)
		}
		local, domain, found := strings.Cut(email, "@")
		if !found || strings.Contains(domain, "@") {
			t.Fatalf("accepted %q without exactly one @", email)
		}
		if local == "" || len(local) > maxEmailLocalBytes {
			t.Fatalf("accepted %q with a local part of %d bytes", email, len(local))
		}
		if strings.ContainsFunc(email, isSpaceOrControl) {
			t.Fatalf("accepted %q with a space or control character", email)
		}
	})
}

func FuzzCheckUsername(f *testing.F) {
	for _, seed := range []string{"forestorbit68", "Jane Doe", "", " ", "a\nb", "\u00a0", "😀"} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, username string) {
		if checkUsername(username) != nil {
			return
		}
		if n := utf8.RuneCountInString(username); n > maxUsernameRunes {
			t.Fatalf("accepted %q of %d runes", username, n)
		}
		if strings.TrimSpace(username) == "" {
			t.Fatalf("accepted blank %q", username)
		}
		if strings.ContainsFunc(username, isLineBreakOrControl) {
			t.Fatalf("accepted %q with a control character", username)
		}
	})
}
