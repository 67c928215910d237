package rooms

import (
	"time"

	"github.com/chatplatform/chat/internal/protocol"
)

// Presence shares the members of rooms between the registries of the
// nodes of a cluster. A Broker that also implements Presence (package
// broker's does) is used for it; otherwise (the in-process broker) a room's
// members are this node's alone.
type Presence interface {
	// OpenPresence starts sharing room's members: apply is called with the
	// other nodes' changes, in order, never for two at a time, until the
	// RoomPresence is closed. OpenPresence blocks until the other nodes'
	// members of the room are known (applied), or for a bounded time when
	// some node does not answer. apply takes the room's lock: whoever calls
	// it holds no lock that is taken under a room's.
	OpenPresence(room string, apply func(RemoteChange)) RoomPresence
}

// RoomPresence is one room's attachment to the cluster's presence. Joined
// and Left are called under the room's lock, so in the order of the
// changes; they must not block, nor take a lock held by a caller of apply.
type RoomPresence interface {
	// Joined tells the other nodes that client id is now in the room on
	// this node (its first connection here).
	Joined(id string)
	// Left tells them that client id is no longer in the room on this node
	// (its last connection here left).
	Left(id string)
	// Typing tells them that client id, in the room on this node, is
	// typing (already rate-limited by the registry).
	Typing(id string)
	// Close stops sharing: apply is not called once Close has returned.
	// Close may be called once, with no lock held.
	Close()
}

// RemoteChange is a change of one other node's members of a room.
type RemoteChange struct {
	// Node names the node, unique per process start.
	Node string
	// Full says that Joined is the node's whole membership of the room,
	// replacing what was known of it (Left is then empty); a Full change
	// with no Joined drops the node (it left the room, or is gone).
	Full   bool
	Joined []string
	Left   []string
	// Typing, when set, is the whole change: that client id, in the room
	// on that node, is typing.
	Typing string
	// Time is when the change happened on that node.
	Time time.Time
}

// countLocked returns the room's member count: the distinct client ids
// on every node.
func (rm *room) countLocked() int { return len(rm.ids) + rm.remoteOnly }

// applyRemote takes another node's change of rm's members: a client id
// that appears on no node before is announced as joined, one that is on no
// node after as left, to this node's members (each node tells its own).
func (r *Registry) applyRemote(rm *room, c RemoteChange) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.dead {
		return
	}
	if c.Typing != "" {
		r.typingLocked(rm, c.Typing, c.Time, r.cfg.Clock())
		return
	}
	if rm.remote == nil {
		rm.remote = make(map[string]map[string]struct{})
		rm.others = make(map[string]int)
	}
	cur := rm.remote[c.Node]
	var joined, left []string
	if c.Full {
		next := make(map[string]struct{}, len(c.Joined))
		for _, id := range c.Joined {
			next[id] = struct{}{}
			if _, ok := cur[id]; !ok {
				joined = append(joined, id)
			}
		}
		for id := range cur {
			if _, ok := next[id]; !ok {
				left = append(left, id)
			}
		}
		cur = next
	} else {
		if cur == nil {
			cur = make(map[string]struct{}, len(c.Joined))
		}
		for _, id := range c.Joined {
			if _, ok := cur[id]; !ok {
				cur[id] = struct{}{}
				joined = append(joined, id)
			}
		}
		for _, id := range c.Left {
			if _, ok := cur[id]; ok {
				delete(cur, id)
				left = append(left, id)
			}
		}
	}
	if len(cur) == 0 {
		delete(rm.remote, c.Node)
	} else {
		rm.remote[c.Node] = cur
	}
	if len(joined) == 0 && len(left) == 0 {
		return
	}
	if len(rm.ids) < protocol.MaxListedMembers {
		rm.membersJSON = nil // other nodes' ids are listed after this node's
	}
	now := r.cfg.Clock()
	for _, id := range joined {
		n := rm.others[id] + 1
		rm.others[id] = n
		if n == 1 && rm.ids[id] == 0 {
			rm.remoteOnly++
			r.announceLocked(rm, protocol.TypeConnection, id, c.Time, now)
		}
	}
	for _, id := range left {
		if n := rm.others[id] - 1; n > 0 {
			rm.others[id] = n
			continue
		}
		delete(rm.others, id)
		if rm.ids[id] == 0 {
			rm.remoteOnly--
			r.announceLocked(rm, protocol.TypeDisconnection, id, c.Time, now)
		}
	}
}

// announceLocked tells rm's members that client id joined (typ
// TypeConnection) or left the room, everywhere: with a notice in a room
// of at most NoticeLimit members, else in the next presence event.
func (r *Registry) announceLocked(rm *room, typ, id string, at time.Time, now int64) {
	if !r.noticesLocked(rm) {
		rm.presenceDirty = true
		return
	}
	rm.deliverLocked(rm.noticeLocked(typ, id, at), now, false)
}

// noticeLocked returns the frame of the notice that client id joined (typ
// TypeConnection) or left rm, at time at, with the room's member count.
func (rm *room) noticeLocked(typ, id string, at time.Time) []byte {
	text := id + " joined the chat"
	if typ == protocol.TypeDisconnection {
		text = id + " left the chat"
	}
	notice := protocol.Event{Type: typ, ClientID: id, Room: rm.name, Time: at, Message: text,
		MemberCount: rm.countLocked()}
	return protocol.NewFrame(&notice)
}
