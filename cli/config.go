package cli

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/linkbolt/linkbolt/cluster"
)

// maxAPIKeyLine bounds one line of an API key file, in bytes. A key is far
// shorter, so a longer line means that the file is not a key file.
const maxAPIKeyLine = 4096

// loadAPIKeys returns the API keys of LINKBOLT_API_KEYS (comma-separated)
// and of the file, one key per line, blank lines and lines starting with #
// skipped. Keys never come from a flag, which would show them in the
// process list. A variable that is set and not empty but contains no key,
// and a file that is missing, unreadable or contains no key, are errors,
// because the operator meant to require keys. An empty variable counts as
// unset.
func loadAPIKeys(file string) ([]string, error) {
	var keys []string
	env := os.Getenv("LINKBOLT_API_KEYS")
	for k := range strings.SplitSeq(env, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	if env != "" && len(keys) == 0 {
		return nil, errors.New("invalid LINKBOLT_API_KEYS: it contains only commas or spaces and no key; set comma-separated keys, or unset it to run without keys")
	}
	if file == "" {
		return keys, nil
	}

	fileKeys, err := readAPIKeyFile(file)
	if err != nil {
		return nil, err
	}
	if len(fileKeys) == 0 {
		return nil, fmt.Errorf("invalid --api-keys-file %s: no key found; write one key per line, with # to start a comment line", file)
	}
	return append(keys, fileKeys...), nil
}

// readAPIKeyFile returns the keys of a key file, one a line, without blank
// lines and lines starting with #.
func readAPIKeyFile(file string) ([]string, error) {
	if err := checkInputFile("--api-keys-file", file, "the key file must be a regular file"); err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("invalid --api-keys-file: %w", err)
	}
	defer f.Close()

	// The buffer also holds the line's CR and LF, so that a line of exactly
	// maxAPIKeyLine bytes fits.
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 512), maxAPIKeyLine+2)
	var keys []string
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) > maxAPIKeyLine {
			return nil, apiKeyLineTooLong(file, line)
		}
		key := strings.TrimSpace(sc.Text())
		if key != "" && !strings.HasPrefix(key, "#") {
			keys = append(keys, key)
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return nil, apiKeyLineTooLong(file, line+1)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("invalid --api-keys-file: read %s: %w", file, err)
	}
	return keys, nil
}

func apiKeyLineTooLong(file string, line int) error {
	return fmt.Errorf("invalid --api-keys-file %s: line %d is longer than %d bytes, and the file must hold one key per line",
		file, line, maxAPIKeyLine)
}

// parsePrefixes parses addresses and CIDR networks; an address alone is a
// network of one.
func parsePrefixes(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		addr, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR network such as 10.0.0.0/8", v)
		}
		out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
	}
	return out, nil
}

// isLoopback reports whether a listen address is reachable only from this
// machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// secretOptions are the flags that give the cluster secret, which every
// shard of a cluster and the rebalance command share.
type secretOptions struct {
	value string
	file  string
}

func (o *secretOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.value, "cluster-secret", "", "secret that every shard of the cluster shares, at least 16 bytes; prefer --cluster-secret-file, since flags show in ps (env LINKBOLT_CLUSTER_SECRET)")
	f.StringVar(&o.file, "cluster-secret-file", "", "file whose first line is the cluster secret (env LINKBOLT_CLUSTER_SECRET_FILE)")
}

// load returns the cluster secret of the flags, which is required: a
// cluster without one would serve its internal routes to anyone.
func (o *secretOptions) load() (string, error) {
	if o.value != "" && o.file != "" {
		return "", errors.New("give the cluster secret once: --cluster-secret or --cluster-secret-file, not both")
	}
	secret := o.value
	if o.file != "" {
		if err := checkInputFile("--cluster-secret-file", o.file, "the secret file must be a regular file"); err != nil {
			return "", err
		}
		data, err := os.ReadFile(o.file)
		if err != nil {
			return "", fmt.Errorf("invalid --cluster-secret-file: %w", err)
		}
		secret, _, _ = strings.Cut(string(data), "\n")
		secret = strings.TrimSpace(secret)
	}
	if secret == "" {
		return "", errors.New("missing cluster secret: give every shard the same --cluster-secret-file or LINKBOLT_CLUSTER_SECRET, such as the output of: openssl rand -hex 32")
	}
	if err := cluster.CheckSecret(secret); err != nil {
		return "", fmt.Errorf("invalid cluster secret: %w", err)
	}
	return secret, nil
}
