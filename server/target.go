package server

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits on the strings that links and users store.
const (
	// maxOriginalURLBytes is the maximum length of a link's original_url.
	maxOriginalURLBytes = 8192

	// maxEmailBytes is the maximum length of an email address: RFC 5321
	// limits an SMTP path to 256 octets, angle brackets included.
	maxEmailBytes = 254

	// maxEmailLocalBytes is the RFC 5321 maximum length of the part of an
	// email address before the "@".
	maxEmailLocalBytes = 64

	// maxUsernameRunes is the maximum length of a username in Unicode code
	// points.
	maxUsernameRunes = 64

	// maxDomainBytes and maxLabelBytes are the RFC 1035 limits on an ASCII
	// domain name and on one label. A name is at most 255 octets in wire
	// format, which is 253 characters in dotted form without a trailing dot.
	maxDomainBytes = 253
	maxLabelBytes  = 63
)

// Validation errors that more than one rule returns.
var (
	errTargetURL  = errors.New("original_url must be an absolute http or https URL with a host")
	errTargetHost = errors.New("original_url host must be a valid domain name " +
		"or a bracketed IPv6 address")
	errEmailForm = errors.New("email must be an address of the form name@example.com")
)

// hostIDNA converts host names to their ASCII (punycode) form with UTS 46
// nontransitional lookup mapping and the Bidi rule. Unlike idna.Lookup it
// accepts "_" and labels such as "r3---sn-abc", which web browsers accept.
// Without the STD3 rules it also maps "／" to "/", so validDomainName must
// check its output.
var hostIDNA = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
)

// checkTargetURL validates a link's original_url.
//
// It accepts an absolute http or https URL, with the scheme in any case, of
// at most maxOriginalURLBytes of valid UTF-8 without spaces or control
// characters. The host is a domain name (Unicode or ASCII) or a bracketed
// IPv6 address, with an optional port from 1 to 65535. Userinfo is
// rejected.
func checkTargetURL(raw string) error {
	if err := checkTargetText(raw); err != nil {
		return err
	}
	start, end, ok := targetAuthority(raw)
	if !ok {
		return errTargetURL
	}

	// "https://bank.example@evil.example/" reads as the bank's address but
	// leads to evil.example, so a link may not carry a user name.
	authority := raw[start:end]
	if strings.Contains(authority, "@") {
		return errors.New("original_url must not contain a user name or password before the host")
	}
	if err := checkTargetHostPort(authority); err != nil {
		return err
	}

	// url.Parse rejects bad percent-escapes in the path and fragment. Its
	// host must be the one checked above, which locationFor converts.
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host != authority {
		return errTargetURL
	}
	return nil
}

// checkTargetText checks the length and the characters of an original_url.
func checkTargetText(raw string) error {
	switch {
	case len(raw) > maxOriginalURLBytes:
		return fmt.Errorf("original_url is longer than %d bytes", maxOriginalURLBytes)
	case !utf8.ValidString(raw):
		return errors.New("original_url is not valid UTF-8")
	case strings.ContainsFunc(raw, isSpaceOrControl):
		return errors.New("original_url must not contain spaces or control characters " +
			"(percent-encode them, e.g. %20 for a space)")
	}
	return nil
}

// isSpaceOrControl reports whether r is Unicode white space or a C0, DEL or
// C1 control character.
func isSpaceOrControl(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r)
}

// targetAuthority returns the byte bounds of the authority (userinfo, host
// and port) of an http or https URL. It splits where url.Parse does: after
// "://" and before the first "/", "?" or "#". ok is false when raw does not
// start with "http://" or "https://" in any case.
func targetAuthority(raw string) (start, end int, ok bool) {
	scheme, rest, found := strings.Cut(raw, "://")
	if !found || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return 0, 0, false
	}
	start = len(scheme) + len("://")
	end = len(raw)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = start + i
	}
	return start, end, true
}

// checkTargetHostPort validates the host and optional port of an
// original_url's authority.
func checkTargetHostPort(hostport string) error {
	host, port, hasPort := splitTargetPort(hostport)
	if hasPort {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return errors.New("original_url port must be a number from 1 to 65535")
		}
	}

	switch {
	case host == "":
		return errTargetURL
	case strings.HasPrefix(host, "["):
		if !validIPv6Literal(host) {
			return errTargetHost
		}
	case !validHostName(host):
		return errTargetHost
	}
	return nil
}

// splitTargetPort splits "host:port" at its last colon outside IPv6
// brackets. hasPort is true when there is such a colon, even with no digits
// after it.
func splitTargetPort(hostport string) (host, port string, hasPort bool) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.LastIndexByte(hostport, ']') > i {
		return hostport, "", false
	}
	return hostport[:i], hostport[i+1:], true
}

// validIPv6Literal reports whether host is an IPv6 address in brackets.
// Zones ("%25eth0") are rejected because they only name an interface of the
// machine that reads the link.
func validIPv6Literal(host string) bool {
	inner, ok := strings.CutPrefix(host, "[")
	inner, closed := strings.CutSuffix(inner, "]")
	if !ok || !closed {
		return false
	}
	addr, err := netip.ParseAddr(inner)
	return err == nil && addr.Is6() && addr.Zone() == ""
}

// validHostName reports whether host, a domain name in Unicode or ASCII
// form, converts with hostIDNA to an ASCII domain name. Percent-escapes are
// rejected so that the host locationFor converts is the host validated here.
func validHostName(host string) bool {
	if strings.Contains(host, "%") {
		return false
	}
	ascii, err := hostIDNA.ToASCII(host)
	if err != nil || !validDomainName(ascii) {
		return false
	}

	// With x/net/idna v0.63.0, "aℵb.example" converts to "xn--ab-vld.example",
	// which the same profile rejects because its label mixes Latin and Hebrew
	// letters. Converting again keeps such a host out of Location headers.
	again, err := hostIDNA.ToASCII(ascii)
	return err == nil && again == ascii
}

// validDomainName reports whether name is an ASCII domain name of letters,
// digits, "-" and "_" within the DNS length limits. One trailing dot, which
// marks a fully qualified name, is allowed.
func validDomainName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > maxDomainBytes {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if !validDomainLabel(label) {
			return false
		}
	}
	return true
}

func validDomainLabel(label string) bool {
	if label == "" || len(label) > maxLabelBytes {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		isAlnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !isAlnum && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// locationFor returns the value of the Location header for a stored
// original_url that passed checkTargetURL.
//
// An all-ASCII URL is returned unchanged, byte for byte. Otherwise the host
// is converted to its punycode form (a port is kept) and every other
// non-ASCII byte is percent-encoded, while ASCII bytes stay as they are.
func locationFor(raw string) string {
	if isASCIIOnly(raw) {
		return raw
	}
	start, end, ok := targetAuthority(raw)
	if !ok {
		return percentEncodeNonASCII(raw)
	}

	// Userinfo ends at the last "@" of the authority, as in url.Parse.
	if i := strings.LastIndexByte(raw[start:end], '@'); i >= 0 {
		start += i + 1
	}
	host := asciiHostPort(raw[start:end])
	return percentEncodeNonASCII(raw[:start]) + host + percentEncodeNonASCII(raw[end:])
}

// asciiHostPort converts the host of "host[:port]" to punycode. A host that
// is already ASCII keeps its bytes, and one that hostIDNA rejects is
// percent-encoded instead.
func asciiHostPort(hostport string) string {
	host, port, hasPort := splitTargetPort(hostport)
	if isASCIIOnly(host) {
		return percentEncodeNonASCII(hostport)
	}
	ascii, err := hostIDNA.ToASCII(host)
	if err != nil {
		return percentEncodeNonASCII(hostport)
	}
	if hasPort {
		ascii += ":" + port
	}
	return percentEncodeNonASCII(ascii)
}

// percentEncodeNonASCII replaces each byte of s at or above 0x80 with "%XX"
// in uppercase hex and keeps the other bytes.
func percentEncodeNonASCII(s string) string {
	if isASCIIOnly(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isASCIIOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// checkEmail validates a user's email: exactly one "@", a local part of 1 to
// maxEmailLocalBytes bytes in dot-atom form (no quoted strings), and a domain
// with at least one dot or "localhost". Unicode is allowed in both parts.
func checkEmail(s string) error {
	switch {
	case len(s) > maxEmailBytes:
		return fmt.Errorf("email is longer than %d bytes", maxEmailBytes)
	case !utf8.ValidString(s):
		return errors.New("email is not valid UTF-8")
	case strings.ContainsFunc(s, isSpaceOrControl):
		return errors.New("email must not contain spaces or control characters")
	case strings.Count(s, "@") != 1:
		return errEmailForm
	}

	local, domain, _ := strings.Cut(s, "@")
	if len(local) > maxEmailLocalBytes {
		return fmt.Errorf("email part before the @ is longer than %d bytes", maxEmailLocalBytes)
	}
	if !validEmailLocal(local) {
		return errEmailForm
	}
	if !validEmailDomain(domain) {
		return errors.New("email domain must be a domain name such as example.com")
	}
	return nil
}

// validEmailLocal reports whether local is an RFC 5322 dot-atom, which has
// no specials such as "@" or "," and dots only between other characters.
// Quoted local parts are rejected, and non-ASCII characters are allowed.
func validEmailLocal(local string) bool {
	if local == "" || strings.ContainsAny(local, `()<>[]:;@\,"`) {
		return false
	}
	return !strings.HasPrefix(local, ".") && !strings.HasSuffix(local, ".") &&
		!strings.Contains(local, "..")
}

// validEmailDomain reports whether domain is a domain name with a dot, or
// "localhost". A trailing dot and address literals ("[192.0.2.1]") are
// rejected.
func validEmailDomain(domain string) bool {
	if !validHostName(domain) {
		return false
	}

	// The ASCII form shows dots that other characters such as "。" map to.
	ascii, _ := hostIDNA.ToASCII(domain)
	if strings.HasSuffix(ascii, ".") {
		return false
	}
	return strings.Contains(ascii, ".") || ascii == "localhost"
}

// checkUsername validates a username: valid UTF-8, not empty or only white
// space, at most maxUsernameRunes code points, and no control characters or
// line separators. Spaces inside and around the name are allowed.
func checkUsername(s string) error {
	switch {
	case !utf8.ValidString(s):
		return errors.New("username is not valid UTF-8")
	case strings.TrimSpace(s) == "":
		return errors.New("username must not be empty or only spaces")
	case utf8.RuneCountInString(s) > maxUsernameRunes:
		return fmt.Errorf("username is longer than %d characters", maxUsernameRunes)
	case strings.ContainsFunc(s, isLineBreakOrControl):
		return errors.New("username must not contain control characters or line breaks")
	}
	return nil
}

func isLineBreakOrControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}
