package integration

import "testing"

// TestFreeAddrNeverRepeats requests more addresses than a run of tests
// uses. The kernel often gives a port that was just closed to the next
// listener, so without the record of handed-out addresses some repeat.
func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := make(map[string]bool)
	for range 500 {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("FreeAddr returned %s twice", addr)
		}
		seen[addr] = true
	}
}
