package broker

import (
	"context"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/chatplatform/chat/internal/rooms"
)

// Headers of a room's message in the stream; the body is the text.
const (
	hdrSeq    = "Chat-Seq"    // the room's seq, decimal
	hdrEpoch  = "Chat-Epoch"  // the epoch that seq counts in
	hdrClient = "Chat-Client" // the sender's client id
	hdrTime   = "Chat-Time"   // when the sender's node took it, Unix nanoseconds
	hdrID     = "Chat-Id"     // the sender's id for the message, absent for none (printable ASCII)
)

// position is a room's latest message as a node knows it.
type position struct {
	stream uint64 // stream sequence; 0: the room has no message kept
	seq    uint64
	epoch  string
}

// publishReq is a message waiting for its turn to be published.
type publishReq struct {
	msg    rooms.Message
	failed func(error)
}

// feed is one room's attachment to the stream: an ordered consumer of the
// room's subject, which delivers, and one publisher goroutine, which
// publishes the node's messages one at a time, each with the next seq and
// the stream sequence it must follow (Nats-Expected-Last-Subject-Sequence).
// When the stream was made again, or the consumer skipped the start of a
// history (see handle), the publisher starts the consumer again from the
// stream's first message (see fresh).
//
// Lock order: deliverMu, then the room's lock (deliver takes it), then mu.
type feed struct {
	// Static after Open.
	b       *Broker
	subject string
	deliver func(rooms.Message)
	queue   chan publishReq // never closed
	stop    chan struct{}   // closed by Close; never reopened
	stale   chan struct{}   // handle's word to the publisher that the consumer skipped a history's start; never closed
	done    sync.WaitGroup  // the publisher

	// Set by Open, then owned by the publisher (restart); read by Close
	// once the publisher has returned.
	cc  jetstream.ConsumeContext
	gen uint64 // the stream's generation (Broker.gen) the consumer reads

	// deliverMu serialises deliveries with Close and restart, before the
	// room's lock.
	deliverMu sync.Mutex
	closed    bool   // guarded by deliverMu
	serial    int    // the current consumer's number: others' deliveries are dropped; guarded by deliverMu
	lastEpoch string // epoch of the current consumer's latest delivery (markers included); guarded by deliverMu
	// dropping: the current consumer's deliveries are dropped until
	// restart. Written under deliverMu (with serial); read without it by
	// fresh, which runs before every publish and must not wait for a
	// delivery in progress.
	dropping atomic.Bool

	mu       sync.Mutex
	pos      position      // the latest known: delivered, acknowledged or looked up; guarded by mu
	openedAt uint64        // stream sequence of the latest kept message when Open looked; guarded by mu
	caughtUp chan struct{} // closed, then nil, once a delivery reaches openedAt; guarded by mu

	// Owned by the publisher.
	pending string // epoch of the room's next history, while it has none
}

// Open implements rooms.Broker: it looks up the room's latest kept message,
// starts an ordered consumer of every kept one and waits until that one is
// delivered.
func (b *Broker) Open(room string, deliver func(rooms.Message)) (rooms.Feed, string, error) {
	f := &feed{b: b, subject: b.subject(room), deliver: deliver, queue: make(chan publishReq, queueLength),
		stop: make(chan struct{}), stale: make(chan struct{}, 1), caughtUp: make(chan struct{}), pending: rooms.NewEpoch()}
	f.gen = b.gen.Load()
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	last, err := f.lookup(ctx)
	for err == nil && last.stream == 0 {
		last, err = f.mark(ctx)
	}
	if err != nil {
		return nil, "", err
	}
	f.mu.Lock()
	f.pos, f.openedAt = last, last.stream
	caughtUp := f.caughtUp
	f.mu.Unlock()
	if f.cc, err = f.consume(ctx, 0); err != nil {
		return nil, "", err
	}
	select {
	case <-caughtUp:
	case <-ctx.Done():
		f.close()
		return nil, "", errors.Join(rooms.ErrUnavailable, ctx.Err())
	}
	f.done.Add(1)
	go f.publisher()
	return f, last.epoch, nil
}

// mark names the epoch of a room that has nothing kept: it publishes a
// marker, a message of seq 0 that is never delivered, with a fresh epoch,
// if the room still has nothing kept; the first message then takes its
// epoch, and every node that opens the room meanwhile reads the same
// epoch. It returns the room's latest kept message, the marker or
// another's.
func (f *feed) mark(ctx context.Context) (position, error) {
	m := nats.NewMsg(f.subject)
	m.Header.Set(hdrSeq, "0")
	m.Header.Set(hdrEpoch, f.pending)
	ack, err := f.b.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(0))
	if err == nil {
		return position{stream: ack.Sequence, epoch: f.pending}, nil
	}
	if isWrongLastSeq(err) {
		if isInProcess(err) {
			time.Sleep(maxRetryWait) // another node's marker or message, not yet applied
		}
		return f.lookup(ctx)
	}
	return position{}, errors.Join(rooms.ErrUnavailable, err)
}

// lookup returns the room's latest kept message's position.
func (f *feed) lookup(ctx context.Context) (position, error) {
	m, err := f.b.stream.GetLastMsgForSubject(ctx, f.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return position{}, nil
	}
	if err != nil {
		return position{}, errors.Join(rooms.ErrUnavailable, err)
	}
	seq, _ := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64)
	return position{stream: m.Sequence, seq: seq, epoch: m.Header.Get(hdrEpoch)}, nil
}

// consume starts an ordered consumer of every kept message of the room,
// numbered serial.
func (f *feed) consume(ctx context.Context, serial int) (jetstream.ConsumeContext, error) {
	cons, err := f.b.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.subject}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, errors.Join(rooms.ErrUnavailable, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) { f.handle(serial, msg) })
	if err != nil {
		return nil, errors.Join(rooms.ErrUnavailable, err)
	}
	return cc, nil
}

// handle delivers one message of the ordered consumer numbered serial.
//
// A message of another epoch than the consumer's latest, past seq 1,
// means that the consumer skipped the start of a history: the stream was
// made again with new messages where the old ones were, and the ordered
// consumer, resuming after the latest sequence it had delivered, passed
// over them. Its deliveries are then dropped and the publisher starts it
// again from the first message (the first delivery of a consumer is never
// checked, so this cannot repeat).
func (f *feed) handle(serial int, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		return
	}
	h := msg.Headers()
	seq, err := strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	if err != nil {
		f.b.log.Warn("message without a seq in the stream", zap.String("subject", f.subject),
			zap.Uint64("stream_seq", meta.Sequence.Stream))
		return
	}
	ns, _ := strconv.ParseInt(h.Get(hdrTime), 10, 64)
	m := rooms.Message{Epoch: h.Get(hdrEpoch), Seq: seq, ClientID: h.Get(hdrClient), ID: h.Get(hdrID), Text: msg.Data(),
		Time: time.Unix(0, ns)}
	f.deliverMu.Lock()
	if serial != f.serial || f.dropping.Load() {
		f.deliverMu.Unlock()
		return
	}
	if f.lastEpoch != "" && m.Epoch != f.lastEpoch && seq > 1 {
		f.dropping.Store(true)
		f.deliverMu.Unlock()
		select {
		case f.stale <- struct{}{}:
		default:
		}
		return
	}
	f.lastEpoch = m.Epoch
	if !f.closed && seq > 0 { // seq 0 is a marker (see mark)
		f.deliver(m)
	}
	f.deliverMu.Unlock()

	f.mu.Lock()
	defer f.mu.Unlock()
	if s := meta.Sequence.Stream; s > f.pos.stream {
		f.pos = position{stream: s, seq: seq, epoch: m.Epoch}
	}
	if f.caughtUp != nil && meta.Sequence.Stream >= f.openedAt {
		close(f.caughtUp)
		f.caughtUp = nil
	}
}

// Publish implements rooms.Feed: msg waits for its turn on this node.
func (f *feed) Publish(msg rooms.Message, failed func(error)) {
	if !f.b.Ready() {
		failed(rooms.ErrUnavailable)
		return
	}
	msg.Text = append([]byte(nil), msg.Text...)
	select {
	case f.queue <- publishReq{msg: msg, failed: failed}:
	default:
		failed(rooms.ErrUnavailable)
	}
}

// publisher publishes the queued messages until Close; those still queued
// then are dropped with the room. Between messages it starts the consumer
// again when it must (see fresh).
func (f *feed) publisher() {
	defer f.done.Done()
	for {
		remade := f.b.nextRemade()
		if err := f.fresh(); err != nil {
			f.b.log.Debug("consumer", zap.String("subject", f.subject), zap.Error(err))
			select {
			case <-f.stop:
				return
			case <-time.After(reconnectWait):
			}
			continue
		}
		select {
		case <-f.stop:
			return
		case <-remade:
		case <-f.stale:
		case req := <-f.queue:
			err := f.fresh()
			if err == nil {
				err = f.publish(req.msg)
			}
			if err != nil {
				f.b.log.Debug("publish", zap.String("subject", f.subject), zap.Error(err))
				req.failed(err)
			}
		}
	}
}

// fresh starts the consumer again from the stream's first message when
// the stream was made again since it started, or when handle found that
// it skipped a history's start; the room's position is then forgotten,
// to be learnt again from the new stream. The new consumer delivers the
// room's messages from the first kept: those the room had already are
// dropped by the registry (their seq), a new history replaces the old
// (its epoch).
func (f *feed) fresh() error {
	gen := f.b.gen.Load()
	if gen == f.gen && !f.dropping.Load() {
		return nil
	}
	f.deliverMu.Lock()
	f.serial++
	serial := f.serial
	f.dropping.Store(false)
	f.lastEpoch = ""
	f.deliverMu.Unlock()
	f.mu.Lock()
	f.pos = position{}
	f.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	cc, err := f.consume(ctx, serial)
	if err != nil {
		f.deliverMu.Lock()
		f.dropping.Store(true) // try again
		f.deliverMu.Unlock()
		return err
	}
	f.cc.Stop()
	f.cc, f.gen = cc, gen
	f.b.log.Info("room consumer started again from the stream's first message", zap.String("subject", f.subject))
	return nil
}

// publish publishes msg as the message after the room's latest known one;
// when another node's took that place, it looks the latest up and tries
// again, after a pause that doubles each time when that message was still
// being replicated.
func (f *feed) publish(msg rooms.Message) error {
	start := time.Now()
	wait := minRetryWait
	for range maxAttempts {
		f.mu.Lock()
		pos := f.pos
		f.mu.Unlock()
		next := position{seq: pos.seq + 1, epoch: pos.epoch}
		if pos.stream == 0 || pos.epoch == "" {
			next = position{seq: 1, epoch: f.pending} // the room's history starts (again)
		}
		m := nats.NewMsg(f.subject)
		m.Data = msg.Text
		m.Header.Set(hdrSeq, strconv.FormatUint(next.seq, 10))
		m.Header.Set(hdrEpoch, next.epoch)
		m.Header.Set(hdrClient, msg.ClientID)
		m.Header.Set(hdrTime, strconv.FormatInt(msg.Time.UnixNano(), 10))
		opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(pos.stream)}
		if msg.ID != "" {
			m.Header.Set(hdrID, msg.ID)
			opts = append(opts, jetstream.WithMsgID(f.msgID(msg)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		ack, err := f.b.js.PublishMsg(ctx, m, opts...)
		if err == nil {
			cancel()
			f.b.m.BrokerPublishDuration.Observe(time.Since(start).Seconds())
			if ack.Duplicate {
				return nil // stored before, maybe through another node: delivered as it was
			}
			next.stream = ack.Sequence
			f.mu.Lock()
			if next.stream > f.pos.stream {
				f.pos = next
			}
			f.mu.Unlock()
			if next.seq == 1 {
				f.pending = rooms.NewEpoch() // a later restart of the history gets another
			}
			return nil
		}
		if !isWrongLastSeq(err) {
			cancel()
			return errors.Join(rooms.ErrUnavailable, err)
		}
		if isInProcess(err) {
			// Another node's message is being replicated: it will be
			// the latest once applied, so wait before looking it up.
			time.Sleep(wait/2 + rand.N(wait))
			wait = min(2*wait, maxRetryWait)
		}
		last, err := f.lookup(ctx)
		cancel()
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.pos = last // the stream's word: it may be behind what was known, if messages expired
		f.mu.Unlock()
	}
	return errors.Join(rooms.ErrUnavailable, errors.New("room too contended"))
}

// msgID returns the stream's deduplication id (Nats-Msg-Id) of msg: the
// same message id from the same client in the same room is stored once
// within the stream's duplicate window (2 minutes by default), whichever
// nodes it was sent through. A client whose node died before it was
// acknowledged sends it again through another, whose room may not have
// delivered the first yet.
func (f *feed) msgID(msg rooms.Message) string {
	return f.subject + " " + base64.RawURLEncoding.EncodeToString([]byte(msg.ClientID)) + " " + msg.ID
}

// Close implements rooms.Feed.
func (f *feed) Close() {
	f.deliverMu.Lock()
	f.closed = true
	f.deliverMu.Unlock()
	close(f.stop)
	f.done.Wait() // the publisher, which may start a consumer meanwhile
	f.close()
}

// close stops deliveries; the caller owns f.cc.
func (f *feed) close() {
	f.deliverMu.Lock()
	f.closed = true
	f.deliverMu.Unlock()
	f.cc.Stop()
}
