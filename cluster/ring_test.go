package cluster

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRingRejectsBadPeers(t *testing.T) {
	tests := []struct {
		name  string
		peers []string
		want  string
	}{
		{"empty list", nil, "empty"},
		{"duplicate", []string{"127.0.0.1:8080", "127.0.0.1:8080"}, "twice"},
		{"no port", []string{"127.0.0.1"}, "host:port"},
		{"empty host", []string{":8080"}, "host:port"},
		{"port zero", []string{"127.0.0.1:0"}, "port"},
		{"port too large", []string{"127.0.0.1:65536"}, "port"},
		{"port with sign", []string{"127.0.0.1:+80"}, "port"},
		{"space", []string{"bad host:80"}, "character"},
		{"semicolon", []string{"a;b:80"}, "character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRing(tc.peers)
			if err == nil {
				t.Fatalf("NewRing(%q) succeeded", tc.peers)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestRingPointsFollowKetama(t *testing.T) {
	// The first two points of 10.0.0.1:8080, computed from the definition:
	// CRC-32 of host, a zero byte, port and the previous point.
	first := crc32.ChecksumIEEE([]byte("10.0.0.1\x008080\x00\x00\x00\x00"))
	le := []byte{byte(first), byte(first >> 8), byte(first >> 16), byte(first >> 24)}
	second := crc32.ChecksumIEEE(append([]byte("10.0.0.1\x008080"), le...))

	points := peerPoints("10.0.0.1:8080", 0)
	if len(points) != PointsPerPeer {
		t.Fatalf("got %d points, want %d", len(points), PointsPerPeer)
	}
	if points[0].hash != first {
		t.Errorf("point 0 = %08x, want %08x", points[0].hash, first)
	}
	if points[1].hash != second {
		t.Errorf("point 1 = %08x, want %08x", points[1].hash, second)
	}
}

func TestRingSplitsAtLastColon(t *testing.T) {
	want := crc32.ChecksumIEEE([]byte("[::1]\x008080\x00\x00\x00\x00"))
	if got := peerPoints("[::1]:8080", 0)[0].hash; got != want {
		t.Errorf("first point of [::1]:8080 = %08x, want %08x", got, want)
	}
}

func TestRingOwnerIsFirstPointAtOrAbove(t *testing.T) {
	r, err := NewRing([]string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		key := fmt.Sprintf("k%d", rng.Uint64())
		h := crc32.ChecksumIEEE([]byte(key))

		// A linear scan is the definition that the binary search must match.
		want := r.points[0].peer
		for _, p := range r.points {
			if p.hash >= h {
				want = p.peer
				break
			}
		}
		if got := r.Owner(key); got != want {
			t.Fatalf("Owner(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestRingSpreadsKeys(t *testing.T) {
	peers := []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}
	r, err := NewRing(peers)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, len(peers))
	const n = 30000
	for i := range n {
		counts[r.Owner(fmt.Sprintf("code%d", i))]++
	}
	for i, c := range counts {
		// Ketama with 160 points gives each of three peers 20% to 47% of
		// the keys; a share outside that range means a broken ring.
		if c < n/5 || c > n*47/100 {
			t.Errorf("peer %s got %d of %d keys", peers[i], c, n)
		}
	}
}

func TestRingMovesFewKeysOnGrowth(t *testing.T) {
	three, _ := NewRing([]string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"})
	four, _ := NewRing([]string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:9004"})
	const n = 20000
	moved := 0
	for i := range n {
		key := fmt.Sprintf("code%d", i)
		before, after := three.OwnerName(key), four.OwnerName(key)
		if before != after {
			moved++
			if after != "127.0.0.1:9004" {
				t.Fatalf("key %q moved from %s to %s, not to the new peer", key, before, after)
			}
		}
	}
	if moved < n/8 || moved > n*2/5 {
		t.Errorf("%d of %d keys moved to the fourth peer, expected about a quarter", moved, n)
	}
}

func TestParsePeersTrims(t *testing.T) {
	peers, err := ParsePeers(" 127.0.0.1:1 ,\t127.0.0.1:2 ")
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 || peers[0] != "127.0.0.1:1" || peers[1] != "127.0.0.1:2" {
		t.Errorf("ParsePeers = %q", peers)
	}
}

func TestParsePeersRejectsBadLists(t *testing.T) {
	tests := []struct {
		name, list, want string
	}{
		{"empty", " ", "is empty"},
		{"double comma", "127.0.0.1:1,,127.0.0.1:2", "empty entry at position 2"},
		{"trailing comma", "127.0.0.1:1,127.0.0.1:2,", "empty entry at position 3"},
		{"leading comma", ",127.0.0.1:1", "empty entry at position 1"},
		{"only spaces entry", "127.0.0.1:1, ,127.0.0.1:2", "empty entry"},
		{"same host other case", "LOCALHOST:1,localhost:1", "not case-sensitive"},
		{"same peer", "localhost:1,localhost:1", "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePeers(tc.list)
			if err == nil {
				t.Fatalf("ParsePeers(%q) accepted the list", tc.list)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePeers(%q): error %q does not contain %q", tc.list, err, tc.want)
			}
		})
	}
}
