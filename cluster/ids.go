package cluster

// RangeBits sets the size of each shard's id range: 2^40 ids, about 10^12
// per kind of record. Ids stay below 2^53 to be exact in JSON, so a cluster
// has at most MaxShards shards.
const RangeBits = 40

// MaxShards is the number of id ranges below 2^53.
const MaxShards = 1 << (53 - RangeBits)

// IDRange returns the closed range of new ids of the shard at index in the
// peer list. Shard 0 starts at 1, so that a single server that becomes
// shard 0 keeps drawing ids where it left off.
func IDRange(index int) (first, last uint64) {
	first = uint64(index) << RangeBits
	last = uint64(index+1)<<RangeBits - 1
	if index == 0 {
		first = 1
	}
	return first, last
}

// RangeShard returns the index of the shard whose id range holds id.
func RangeShard(id uint64) int {
	return int(id >> RangeBits)
}
