package rooms

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// history keeps the recent messages of every room, bounded per room by
// count and bytes and over all rooms by bytes. All of it is guarded by mu,
// a leaf lock taken under a room's lock; the rooms' logs are guarded by it
// too, so that evicting the globally oldest message of another room needs
// no other room's lock.
type history struct {
	// Static after construction.
	maxCount, maxRoomBytes, maxTotalBytes int
	gauge                                 prometheus.Gauge

	mu             sync.Mutex
	total          int    // bytes kept over all rooms; guarded by mu
	oldest, newest *entry // every kept message, oldest first; guarded by mu
}

// entry is one kept message: in its room's log, and in the global list.
type entry struct {
	seq   uint64
	frame []byte
	log   *roomLog
	// Global list, guarded by history.mu.
	prev, next *entry
}

// roomLog is one room's kept messages, oldest first from head. Guarded by
// history.mu.
type roomLog struct {
	entries []*entry
	head    int
	bytes   int
}

// add keeps frame as message seq of log, dropping the oldest messages of
// log, then of any room, until every bound holds.
func (h *history) add(log *roomLog, seq uint64, frame []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := &entry{seq: seq, frame: frame, log: log}
	log.entries = append(log.entries, e)
	log.bytes += len(frame)
	h.total += len(frame)
	if h.newest == nil {
		h.oldest, h.newest = e, e
	} else {
		e.prev, h.newest.next, h.newest = h.newest, e, e
	}
	for log.len() > h.maxCount || log.bytes > h.maxRoomBytes {
		h.popOldestLocked(log)
	}
	for h.total > h.maxTotalBytes {
		h.popOldestLocked(h.oldest.log)
	}
	h.gauge.Set(float64(h.total))
}

func (l *roomLog) len() int { return len(l.entries) - l.head }

// popOldestLocked drops the oldest message of log, which must have one.
func (h *history) popOldestLocked(log *roomLog) {
	e := log.entries[log.head]
	log.entries[log.head] = nil
	log.head++
	if log.head == len(log.entries) {
		log.entries, log.head = log.entries[:0], 0
	} else if log.head > len(log.entries)/2 && log.head >= 16 {
		n := copy(log.entries, log.entries[log.head:])
		clear(log.entries[n:])
		log.entries, log.head = log.entries[:n], 0
	}
	log.bytes -= len(e.frame)
	h.total -= len(e.frame)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		h.oldest = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		h.newest = e.prev
	}
	e.prev, e.next, e.frame, e.log = nil, nil, nil, nil
}

// drop forgets every message of log: its room is gone.
func (h *history) drop(log *roomLog) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for log.len() > 0 {
		h.popOldestLocked(log)
	}
	log.entries = nil
	h.gauge.Set(float64(h.total))
}

// since returns the kept frames of log after seq since, newest last, at
// most maxBytes of them (the newest that fit), and whether any message
// after since is missing: no longer kept, or cut to fit. latest is the
// room's latest seq.
func (h *history) since(log *roomLog, since, latest uint64, maxBytes int) (frames [][]byte, gap bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := log.entries[log.head:]
	first := len(kept) // index of the oldest entry after since
	for first > 0 && kept[first-1].seq > since {
		first--
	}
	from, size := len(kept), 0 // index of the oldest entry that fits
	for from > first && size+len(kept[from-1].frame) <= maxBytes {
		from--
		size += len(kept[from].frame)
	}
	oldestAfter := latest + 1 // seq of the oldest message kept after since
	if from < len(kept) {
		oldestAfter = kept[from].seq
	}
	gap = oldestAfter != since+1
	if from == len(kept) {
		return nil, gap
	}
	frames = make([][]byte, 0, len(kept)-from)
	for _, e := range kept[from:] {
		frames = append(frames, e.frame)
	}
	return frames, gap
}
