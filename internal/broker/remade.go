package broker

import (
	"time"

	"go.uber.org/zap"
)

// noteStream records the stream's creation time as a look-up or an update
// of the stream reported it. A time other than the one seen before means
// the stream was made again (a NATS server with memory storage restarted,
// or someone deleted it): every room's consumer then starts again from
// the new stream's first message (see feed.fresh), since the positions it
// kept belong to the stream that was lost.
func (b *Broker) noteStream(created time.Time) {
	b.remakeMu.Lock()
	defer b.remakeMu.Unlock()
	if b.created.Equal(created) {
		return
	}
	if !b.created.IsZero() {
		b.gen.Add(1)
		close(b.remade)
		b.remade = make(chan struct{})
		b.log.Warn("the stream was made again: rooms' history is lost, their consumers start again",
			zap.String("stream", b.sc.Name))
	}
	b.created = created
}

// nextRemade returns a channel closed when the stream is next found made
// again (when gen next grows).
func (b *Broker) nextRemade() <-chan struct{} {
	b.remakeMu.Lock()
	defer b.remakeMu.Unlock()
	return b.remade
}
