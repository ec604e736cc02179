package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/store"
)

// rebalanceOptions are the flags of the rebalance command.
type rebalanceOptions struct {
	from    string
	to      string
	finish  bool
	timeout time.Duration
	secret  secretOptions
}

// rebalanceName is the name the rebalance command gives itself in the hop
// header of its requests to the shards.
const rebalanceName = "rebalance"

func newRebalanceCommand() *cobra.Command {
	o := &rebalanceOptions{}
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Move links, users and reserved codes to their owners under a new peer list",
		Long: "Move every link (with its events and click count), every user and every reserved code\n" +
			"of the shards of --from whose owner under --to is another shard, to that shard.\n" +
			"Every shard of both lists must be running. Run it twice:\n\n" +
			"  1. without --finish, before the shards and NGINX switch to --to: it copies;\n" +
			"  2. with --finish, after every shard and NGINX run with --to: it copies what\n" +
			"     changed since, adding clicks and events counted meanwhile, then removes the\n" +
			"     moved records from the shards that no longer own them.\n\n" +
			"Both steps can be run again after a failure. docs/cluster.md has the whole procedure.",
		Args:        noArgs,
		Annotations: stopsByContext(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := rebalance(cmd.Context(), cmd.OutOrStdout(), o)
			if interrupted, ok := errors.AsType[*interruptedError](context.Cause(cmd.Context())); ok && err != nil {
				// A step that the signal cut short is completed by a new run.
				return fmt.Errorf("%w; run the same rebalance command again to complete it", interrupted)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "comma-separated host:port of every shard before the change")
	f.StringVar(&o.to, "to", "", "comma-separated host:port of every shard after the change")
	f.BoolVar(&o.finish, "finish", false, "second step: copy what changed since the first step, then remove moved records from their old shards")
	f.DurationVar(&o.timeout, "timeout", time.Minute, "longest wait for one request to a shard")
	o.secret.addFlags(f)
	describeRanges(f, map[string]string{"timeout": positiveDurationRange("1m")})
	bindEnv(f, map[string]string{
		"cluster-secret":      "LINKBOLT_CLUSTER_SECRET",
		"cluster-secret-file": "LINKBOLT_CLUSTER_SECRET_FILE",
	})
	return cmd
}

// rebalancer moves records between the shards of two peer lists.
type rebalancer struct {
	from, to []string
	ring     *cluster.Ring
	client   *cluster.Client
	header   http.Header
	out      io.Writer
	finish   bool
}

// rebalanceCounts are the records moved off one shard.
type rebalanceCounts struct {
	links, users, codes int
}

func rebalance(ctx context.Context, out io.Writer, o *rebalanceOptions) error {
	from, err := cluster.ParsePeers(o.from)
	if err != nil {
		return usageError{fmt.Errorf("invalid --from: %w", err)}
	}
	to, err := cluster.ParsePeers(o.to)
	if err != nil {
		return usageError{fmt.Errorf("invalid --to: %w", err)}
	}
	if o.timeout <= 0 {
		return usageError{fmt.Errorf("invalid --timeout %s: must be positive", o.timeout)}
	}
	secret, err := o.secret.load()
	if err != nil {
		return usageError{err}
	}
	ring, _ := cluster.NewRing(to)
	rb := &rebalancer{
		from: from, to: to, ring: ring, out: out, finish: o.finish,
		client: cluster.NewClient(rebalanceName, secret, o.timeout),
		header: http.Header{},
	}
	if key := os.Getenv(apiKeyEnv); key != "" {
		rb.header.Set("Authorization", "Bearer "+key)
	}

	// Every shard of both lists must respond before anything moves.
	for _, peer := range append(slices.Clone(from), to...) {
		if _, err := rb.do(ctx, peer, http.MethodGet, "/_cluster/ids", nil, nil); err != nil {
			return err
		}
	}
	if err := rb.carryIDRanges(ctx); err != nil {
		return err
	}
	for _, peer := range from {
		n, err := rb.moveShard(ctx, peer)
		if err != nil {
			return err
		}
		verb := "copied"
		if rb.finish {
			verb = "moved"
		}
		fmt.Fprintf(out, "%s: %s %d links, %d users, %d reserved codes\n", peer, verb, n.links, n.users, n.codes)
	}
	if !rb.finish {
		fmt.Fprintln(out, "next: run every shard with --peers "+strings.Join(to, ",")+", reload NGINX with the new configuration, then run rebalance again with --finish")
	}
	return nil
}

// carryIDRanges makes a shard that takes over the position, and so the id
// range, of another shard draw ids above those that shard drew.
func (rb *rebalancer) carryIDRanges(ctx context.Context) error {
	for i := 0; i < len(rb.from) && i < len(rb.to); i++ {
		if rb.from[i] == rb.to[i] {
			continue
		}
		var seq store.Sequences
		if _, err := rb.do(ctx, rb.from[i], http.MethodGet, "/_cluster/ids", nil, &seq); err != nil {
			return err
		}
		if _, err := rb.do(ctx, rb.to[i], http.MethodPost, "/_cluster/ids", seq, nil); err != nil {
			return err
		}
	}
	return nil
}

// moveShard copies the links, users and reserved codes of one shard whose
// owner under the new list is another shard, and with --finish removes
// them from it afterwards.
func (rb *rebalancer) moveShard(ctx context.Context, peer string) (rebalanceCounts, error) {
	var n rebalanceCounts
	peersParam := "peers=" + url.QueryEscape(strings.Join(rb.to, ","))

	// Links, in batches, each with its events and click count.
	var after uint64
	for {
		var batch struct {
			Links []store.Link `json:"links"`
			Next  uint64       `json:"next"`
		}
		uri := "/_cluster/links/export?" + peersParam + "&after=" + strconv.FormatUint(after, 10)
		if _, err := rb.do(ctx, peer, http.MethodGet, uri, nil, &batch); err != nil {
			return n, err
		}
		byOwner := make(map[string][]store.Link)
		var ids []uint64
		for _, l := range batch.Links {
			owner := rb.ring.OwnerName(l.URL.ShortCode)
			byOwner[owner] = append(byOwner[owner], l)
			ids = append(ids, l.URL.ID)
		}
		for owner, links := range byOwner {
			if _, err := rb.do(ctx, owner, http.MethodPost, "/_cluster/links/import", links, nil); err != nil {
				return n, err
			}
		}
		if rb.finish && len(ids) > 0 {
			if _, err := rb.do(ctx, peer, http.MethodPost, "/_cluster/links/remove", ids, nil); err != nil {
				return n, err
			}
		}
		n.links += len(batch.Links)
		if batch.Next == 0 {
			break
		}
		after = batch.Next
	}

	users, err := rb.moveUsers(ctx, peer)
	if err != nil {
		return n, err
	}
	n.users = users

	codes, err := rb.moveTombstones(ctx, peer, peersParam)
	n.codes = codes
	return n, err
}

// moveUsers copies the users of a shard whose username another shard owns
// under the new list.
func (rb *rebalancer) moveUsers(ctx context.Context, peer string) (int, error) {
	byOwner := make(map[string][]store.User)
	var ids []uint64
	for page := 1; ; page++ {
		var users []struct {
			ID        uint64 `json:"id"`
			Username  string `json:"username"`
			Email     string `json:"email"`
			CreatedAt string `json:"created_at"`
		}
		uri := fmt.Sprintf("/users?page=%d&per_page=1000", page)
		if _, err := rb.do(ctx, peer, http.MethodGet, uri, nil, &users); err != nil {
			return 0, err
		}
		for _, u := range users {
			owner := rb.ring.OwnerName(strings.ToLower(u.Username))
			if owner == peer {
				continue
			}
			created, err := time.Parse("2006-01-02T15:04:05", u.CreatedAt)
			if err != nil {
				return 0, fmt.Errorf("user %d on %s has created_at %q: %w", u.ID, peer, u.CreatedAt, err)
			}
			byOwner[owner] = append(byOwner[owner], store.User{ID: u.ID, Username: u.Username, Email: u.Email, CreatedAt: created})
			ids = append(ids, u.ID)
		}
		if len(users) < 1000 {
			break
		}
	}
	for owner, users := range byOwner {
		if _, err := rb.do(ctx, owner, http.MethodPost, "/_cluster/users/import", users, nil); err != nil {
			return 0, err
		}
	}
	if rb.finish && len(ids) > 0 {
		if _, err := rb.do(ctx, peer, http.MethodPost, "/_cluster/users/remove", ids, nil); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// moveTombstones copies the reserved codes of deleted links to their new
// owners, so that those codes are never issued again there.
func (rb *rebalancer) moveTombstones(ctx context.Context, peer, peersParam string) (int, error) {
	var codes map[string]uint64
	if _, err := rb.do(ctx, peer, http.MethodGet, "/_cluster/tombstones?"+peersParam, nil, &codes); err != nil {
		return 0, err
	}
	byOwner := make(map[string]map[string]uint64)
	var moved []string
	for code, id := range codes {
		owner := rb.ring.OwnerName(code)
		if byOwner[owner] == nil {
			byOwner[owner] = make(map[string]uint64)
		}
		byOwner[owner][code] = id
		moved = append(moved, code)
	}
	for owner, part := range byOwner {
		if _, err := rb.do(ctx, owner, http.MethodPost, "/_cluster/tombstones", part, nil); err != nil {
			return 0, err
		}
	}
	if rb.finish && len(moved) > 0 {
		if _, err := rb.do(ctx, peer, http.MethodPost, "/_cluster/tombstones/remove", moved, nil); err != nil {
			return 0, err
		}
	}
	return len(moved), nil
}

// do sends one request to a shard, with body encoded as JSON, decodes a
// 200 response into out when out is not nil, and turns any other status
// into an error naming the shard.
func (rb *rebalancer) do(ctx context.Context, peer, method, uri string, body, out any) (*cluster.Response, error) {
	var data []byte
	header := rb.header.Clone()
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, err
		}
		header.Set("Content-Type", "application/json")
	}
	op := method + " http://" + peer + strings.SplitN(uri, "?", 2)[0]
	resp, err := rb.client.Do(ctx, peer, method, uri, header, data)
	if err != nil {
		return nil, &shardDownError{op: op, err: err}
	}
	if resp.Status != http.StatusOK {
		var msg struct {
			Error string `json:"error"`
		}
		json.Unmarshal(resp.Body, &msg)
		return nil, &serverError{op: op, status: resp.Status, message: msg.Error}
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return nil, fmt.Errorf("shard %s sent an invalid response to %s: %w", peer, uri, err)
		}
	}
	return resp, nil
}

// shardDownError is a shard that could not be reached.
type shardDownError struct {
	op  string
	err error
}

func (e *shardDownError) Error() string {
	return fmt.Sprintf("%s: %v; check that every shard of --from and --to runs", e.op, e.err)
}

func (e *shardDownError) Unwrap() error { return e.err }
