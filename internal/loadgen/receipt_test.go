package loadgen

import "testing"

func TestReceiptClassification(t *testing.T) {
	type want struct{ dup, reordered bool }
	var p peerState
	steps := []struct {
		seq uint64
		want
	}{
		{1, want{}}, {2, want{}}, {2, want{dup: true}}, {5, want{}}, {3, want{reordered: true}},
		{3, want{dup: true}}, {4, want{reordered: true}}, {1, want{dup: true}}, {200, want{}},
		{100, want{reordered: true}}, {199, want{reordered: true}}, {199, want{dup: true}},
	}
	for i, s := range steps {
		dup, reordered := p.receipt(s.seq)
		if dup != s.dup || reordered != s.reordered {
			t.Fatalf("step %d seq %d: dup=%v reordered=%v, want %+v", i, s.seq, dup, reordered, s.want)
		}
	}
}

func TestPeerKeepsSendersSorted(t *testing.T) {
	var c simConn
	for _, s := range []uint32{5, 1, 9, 3, 1, 9} {
		c.peer(s).last++
	}
	want := []peerState{{sender: 1, last: 2}, {sender: 3, last: 1}, {sender: 5, last: 1}, {sender: 9, last: 2}}
	if len(c.peers) != len(want) {
		t.Fatalf("peers %+v", c.peers)
	}
	for i := range want {
		if c.peers[i] != want[i] {
			t.Fatalf("peers %+v, want %+v", c.peers, want)
		}
	}
}

func TestExpectedIn(t *testing.T) {
	sends := []int64{10, 20, 20, 30, 40}
	for _, tc := range []struct{ join, leave, want int64 }{
		{0, never, 5}, {10, never, 4}, {19, 20, 2}, {20, 30, 1}, {40, never, 0}, {5, 9, 0},
	} {
		if got := expectedIn(sends, tc.join, tc.leave); got != tc.want {
			t.Errorf("expectedIn(%d, %d) = %d, want %d", tc.join, tc.leave, got, tc.want)
		}
	}
}
