package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/chatplatform/chat/internal/protocol"
	"github.com/chatplatform/chat/internal/rooms"
	"github.com/chatplatform/chat/internal/server"
	"github.com/chatplatform/chat/internal/servertest"
)

// BenchmarkNonReaders measures what clients that never read cost the
// others: a sender publishes 1,000 messages at 1,000 a second into a room
// of 5 readers and 0, 100 or 500 non-readers, while a bystander in another
// room sends one message every 10 ms. It reports the readers' end-to-end
// latency and the bystander's round trip, p50 and p99.
func BenchmarkNonReaders(b *testing.B) {
	for _, n := range []int{0, 100, 500} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			var readers, bystander *hdrhistogram.Histogram
			for b.Loop() {
				readers, bystander = nonReadersRun(b, n)
			}
			b.ReportMetric(float64(readers.ValueAtQuantile(50))/1e3, "reader-p50-µs")
			b.ReportMetric(float64(readers.ValueAtQuantile(99))/1e3, "reader-p99-µs")
			b.ReportMetric(float64(bystander.ValueAtQuantile(50))/1e3, "bystander-p50-µs")
			b.ReportMetric(float64(bystander.ValueAtQuantile(99))/1e3, "bystander-p99-µs")
		})
	}
}

func nonReadersRun(b *testing.B, nonReaders int) (readers, bystander *hdrhistogram.Histogram) {
	const messages, readerCount = 1000, 5
	ts := servertest.Start(b, "127.0.0.1:0", server.Config{RateLimit: 1e6, RateBurst: 1e6,
		Logger: zaptest.NewLogger(b, zaptest.Level(zap.ErrorLevel)), Registry: prometheus.NewRegistry(),
		Rooms: rooms.Config{NoticeLimit: 1}})
	defer ts.Stop()
	dial := func(id, room string) *websocket.Conn {
		conn, _, err := extendedDialer.Dial(ts.URL()+"/ws/"+id+"?room="+room, nil)
		if err != nil {
			b.Fatal(err)
		}
		return conn
	}
	var rs []*websocket.Conn
	for i := range readerCount {
		rs = append(rs, dial(fmt.Sprint("r", i), "busy"))
	}
	sender := dial("sender", "busy")
	defer sender.Close()
	by := dial("bystander", "quiet")
	defer by.Close()
	for i := range nonReaders {
		nonReader(b, ts.Addr, fmt.Sprint("nr", i), "busy")
	}
	readers = hdrhistogram.New(1, int64(hangDetector), 3)
	bystander = hdrhistogram.New(1, int64(hangDetector), 3)
	var mu sync.Mutex
	var wg sync.WaitGroup
	pad := strings.Repeat("p", 1000)
	// Each message carries its send time; readers read until they have
	// seen the last one.
	for _, c := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(hangDetector))
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					b.Error(err)
					return
				}
				ev := decodeEvent(data)
				if ev.Type != protocol.TypeMessage {
					continue
				}
				sent, last, _ := strings.Cut(ev.Message, " ")
				ns, _ := strconv.ParseInt(sent, 10, 64)
				mu.Lock()
				readers.RecordValue(time.Now().UnixNano() - ns)
				mu.Unlock()
				if strings.HasPrefix(last, "last") {
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		by.SetReadDeadline(time.Now().Add(hangDetector))
		for range messages / 10 {
			start := time.Now()
			if err := by.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
				b.Error(err)
				return
			}
			for {
				_, data, err := by.ReadMessage()
				if err != nil {
					b.Error(err)
					return
				}
				if decodeEvent(data).Type == protocol.TypeMessage {
					break
				}
			}
			bystander.RecordValue(int64(time.Since(start)))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	tick := time.NewTicker(time.Millisecond)
	for i := range messages {
		<-tick.C
		tag := pad
		if i == messages-1 {
			tag = "last"
		}
		if err := sender.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d %s", time.Now().UnixNano(), tag)); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	wg.Wait()
	return readers, bystander
}
