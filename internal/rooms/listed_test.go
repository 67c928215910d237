package rooms

import (
	"fmt"
	"slices"
	"testing"

	"github.com/chatplatform/chat/internal/outbound"
	"github.com/chatplatform/chat/internal/protocol"
)

// A full welcome list stays the first members' ids while others join, and
// makes room for the next one when a listed member leaves.
func TestWelcomeListsTheFirstMembers(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	var first []*Member
	var want []string
	for i := range protocol.MaxListedMembers + 1 {
		id := fmt.Sprintf("m%03d", i)
		m, _ := b.join(t, id, "big", NoResume, "")
		first = append(first, m)
		if i < protocol.MaxListedMembers {
			want = append(want, id)
		}
	}
	_, p := b.join(t, "late", "big", NoResume, "")
	if w := p.expectType(t, protocol.TypeWelcome); !slices.Equal(w.Members, want) {
		t.Fatalf("welcome lists %d ids %v..., want the first %d", len(w.Members), w.Members[:min(3, len(w.Members))], len(want))
	}
	b.reg.Leave(first[0])
	_, p = b.join(t, "later", "big", NoResume, "")
	w := p.expectType(t, protocol.TypeWelcome)
	if len(w.Members) != protocol.MaxListedMembers || slices.Contains(w.Members, "m000") ||
		!slices.Equal(w.Members, firstIDs(b.reg, "big", protocol.MaxListedMembers)) {
		t.Fatalf("after m000 left the welcome lists %d ids: %v", len(w.Members), w.Members)
	}
}

// firstIDs returns the ids of the first n members of a room, in its order.
func firstIDs(r *Registry, name string, n int) []string {
	r.mu.Lock()
	rm := r.rooms[name]
	r.mu.Unlock()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	var ids []string
	for _, m := range rm.members[:n] {
		ids = append(ids, m.id)
	}
	return ids
}
