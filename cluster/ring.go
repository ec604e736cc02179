// Package cluster maps short codes to the linkbolt instances of a cluster
// the way NGINX does, and carries requests between those instances.
package cluster

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"slices"
	"strconv"
	"strings"
)

// PointsPerPeer is the number of ring points of a peer of weight 1, the
// value NGINX's "hash ... consistent" uses (ngx_http_upstream_hash_module,
// NGINX 1.22).
const PointsPerPeer = 160

// point is one position on the ring and the index of the peer that owns it.
type point struct {
	hash uint32
	peer int
}

// Ring is the ketama ring of NGINX's "hash $key consistent" over a list of
// peers. A Ring never changes after New, so it is safe for concurrent use.
type Ring struct {
	peers  []string
	points []point
}

// NewRing builds the ring of peers, each the exact host:port string of an
// NGINX "server" line. It rejects an empty list, a duplicate and a string
// that is not host:port.
func NewRing(peers []string) (*Ring, error) {
	if len(peers) == 0 {
		return nil, fmt.Errorf("the peer list is empty: give at least one host:port")
	}
	if len(peers) > MaxShards {
		return nil, fmt.Errorf("the peer list has %d peers; a cluster has at most %d", len(peers), MaxShards)
	}
	// Host names are not case-sensitive, so LOCALHOST:1 and localhost:1
	// are one server that NGINX would still hash as two.
	seen := make(map[string]string, len(peers))
	for _, p := range peers {
		if err := CheckPeer(p); err != nil {
			return nil, err
		}
		key := strings.ToLower(p)
		if first, ok := seen[key]; ok {
			if first == p {
				return nil, fmt.Errorf("peer %q is listed twice", p)
			}
			return nil, fmt.Errorf("peers %q and %q are listed twice: host names are not case-sensitive; keep one spelling", first, p)
		}
		seen[key] = p
	}

	r := &Ring{peers: slices.Clone(peers)}
	for i, p := range peers {
		r.points = append(r.points, peerPoints(p, i)...)
	}
	slices.SortStableFunc(r.points, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})

	// NGINX keeps one point per hash value. Which peer keeps a hash that
	// two peers share depends on its unstable qsort, so such a collision
	// may map a few keys differently. With 160 points per peer it is rare,
	// about 1 in 10^5 for three peers (an estimate).
	r.points = slices.CompactFunc(r.points, func(a, b point) bool { return a.hash == b.hash })
	return r, nil
}

// peerPoints computes the ring points of one peer. NGINX splits the server
// string at its last ':', hashes host, a zero byte and port once, and then
// extends that CRC-32 with the previous point as 4 little-endian bytes,
// starting from 0.
func peerPoints(peer string, index int) []point {
	host, port := peer, ""
	if i := strings.LastIndexByte(peer, ':'); i >= 0 {
		host, port = peer[:i], peer[i+1:]
	}
	base := crc32.Update(0, crc32.IEEETable, []byte(host))
	base = crc32.Update(base, crc32.IEEETable, []byte{0})
	base = crc32.Update(base, crc32.IEEETable, []byte(port))

	points := make([]point, PointsPerPeer)
	var prev [4]byte
	for j := range points {
		h := crc32.Update(base, crc32.IEEETable, prev[:])
		points[j] = point{hash: h, peer: index}
		binary.LittleEndian.PutUint32(prev[:], h)
	}
	return points
}

// Peers returns the peers in the order given to NewRing. The caller must
// not change the slice.
func (r *Ring) Peers() []string {
	return r.peers
}

// Owner returns the index of the peer that NGINX picks for key while every
// peer is up: the peer of the first point at or above CRC-32(key), wrapping
// around to the first point.
func (r *Ring) Owner(key string) int {
	h := crc32.ChecksumIEEE([]byte(key))
	i, _ := slices.BinarySearchFunc(r.points, h, func(p point, h uint32) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	if i == len(r.points) {
		i = 0
	}
	return r.points[i].peer
}

// OwnerName returns the peer string of Owner(key).
func (r *Ring) OwnerName(key string) string {
	return r.peers[r.Owner(key)]
}

// Index returns the position of peer in the list, or -1.
func (r *Ring) Index(peer string) int {
	return slices.Index(r.peers, peer)
}

// CheckPeer checks that p is host:port with a non-empty host and a port
// from 1 to 65535, written as NGINX's "server" lines write addresses. IPv6
// hosts are in brackets, such as [::1]:8080.
func CheckPeer(p string) error {
	host, port, err := net.SplitHostPort(p)
	if err != nil || host == "" {
		return fmt.Errorf("invalid peer %q: use host:port, such as 10.0.0.1:8080", p)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Errorf("invalid peer %q: the port must be a number from 1 to 65535", p)
	}
	if strings.ContainsAny(p, " \t\r\n;{}#'\"\\/") {
		return fmt.Errorf("invalid peer %q: it contains a character that an NGINX server line cannot take", p)
	}
	return nil
}

// ParsePeers splits a comma-separated peer list, trimming spaces around
// each entry, and checks it as NewRing does. An empty entry, such as
// from two commas in a row or a trailing comma, is an error.
func ParsePeers(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("the peer list is empty: give at least one host:port")
	}
	var peers []string
	for p := range strings.SplitSeq(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("the peer list %q has an empty entry at position %d: remove the extra comma", list, len(peers)+1)
		}
		peers = append(peers, p)
	}
	if _, err := NewRing(peers); err != nil {
		return nil, err
	}
	return peers, nil
}
