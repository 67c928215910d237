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

// Other nodes' ids are listed after this node's while the list has room,
// and not once this node's ids fill it; the count has them all the same.
func TestWelcomeListsOtherNodesAfterOwn(t *testing.T) {
	b := newBench(t, Config{}, outbound.Config{})
	b.join(t, "ana", "r", NoResume, "")
	rm := roomOf(b.reg, "r")
	b.reg.applyRemote(rm, RemoteChange{Node: "n2", Joined: []string{"zed"}})
	_, p := b.join(t, "ana", "r", NoResume, "") // a second connection: the list is not made again for it
	if w := p.expectType(t, protocol.TypeWelcome); w.MemberCount != 2 || !slices.Equal(w.Members, []string{"ana", "zed"}) {
		t.Fatalf("welcome counts %d, lists %v; want 2: ana, zed", w.MemberCount, w.Members)
	}
	for i := range protocol.MaxListedMembers {
		b.join(t, fmt.Sprintf("m%03d", i), "r", NoResume, "")
	}
	b.reg.applyRemote(rm, RemoteChange{Node: "n2", Joined: []string{"yan"}})
	_, p = b.join(t, "late", "r", NoResume, "")
	w := p.expectType(t, protocol.TypeWelcome)
	if want := protocol.MaxListedMembers + 4; w.MemberCount != want {
		t.Fatalf("welcome counts %d, want %d", w.MemberCount, want)
	}
	if !slices.Equal(w.Members, firstDistinctIDs(rm, protocol.MaxListedMembers)) || slices.Contains(w.Members, "yan") {
		t.Fatalf("a full list holds other ids than this node's first: %v", w.Members)
	}
	b.reg.applyRemote(rm, RemoteChange{Node: "n2", Full: true})
	b.reg.Leave(firstMember(rm))
	_, p = b.join(t, "later", "r", NoResume, "")
	if w := p.expectType(t, protocol.TypeWelcome); w.MemberCount != protocol.MaxListedMembers+3 || slices.Contains(w.Members, "zed") ||
		!slices.Equal(w.Members, firstDistinctIDs(rm, protocol.MaxListedMembers)) {
		t.Fatalf("after n2 left and a connection left the welcome counts %d, lists %v", w.MemberCount, w.Members)
	}
}

// roomOf returns the registered room of that name.
func roomOf(r *Registry, name string) *room {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rooms[name]
}

// firstDistinctIDs returns the first n distinct client ids of rm's
// members, in its order.
func firstDistinctIDs(rm *room, n int) []string {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	var ids []string
	for _, m := range rm.members {
		if len(ids) == n {
			break
		}
		if !slices.Contains(ids, m.id) {
			ids = append(ids, m.id)
		}
	}
	return ids
}

// firstMember returns rm's first member.
func firstMember(rm *room) *Member {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.members[0]
}
