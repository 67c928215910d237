package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEmbeddedNATSCluster runs three nodes, each with an embedded NATS
// server routed to the other two (one NATS cluster, JetStream clustered,
// the stream replicated three times): a node starts serving only once
// JetStream has its meta leader, and a room across the three has one
// order.
func TestEmbeddedNATSCluster(t *testing.T) {
	ports := freePorts(t, 6) // a client and a route port per node
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	addrs := make([]chan net.Addr, 3)
	for i := range 3 {
		addrs[i] = make(chan net.Addr, 1)
		args := []string{"-addr", "127.0.0.1:0", "-log-level", "warn",
			"-nats-embedded", t.TempDir(), "-nats-listen", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"-nats-cluster", fmt.Sprintf("127.0.0.1:%d", ports[3+i]), "-nats-routes", strings.Join(routes, ","),
			"-nats-server-name", fmt.Sprint("n", i), "-nats-replicas", "3", "-nats-connect-timeout", "20s"}
		wg.Go(func() {
			if code := runWith(ctx, args, &bytes.Buffer{}, func(chat, _ net.Addr) { addrs[i] <- chat }); code != 0 {
				t.Errorf("node %d: exit %d", i, code)
			}
		})
	}
	var urls []string
	for i := range 3 {
		select {
		case a := <-addrs[i]:
			urls = append(urls, "ws://"+a.String())
		case <-time.After(60 * time.Second):
			t.Fatalf("node %d is not serving", i)
		}
	}

	// The stream is replicated on the three servers, under one leader.
	info := streamInfo(t, fmt.Sprintf("nats://127.0.0.1:%d", ports[0]), "CHAT")
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Name != "chat" || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream cluster info %+v, want 3 replicas in cluster chat", info.Cluster)
	}

	clients := newChatClients(t, urls)
	const each = 10 // under the rate limit's burst
	sent := map[string]bool{}
	for _, c := range clients {
		for k := range each {
			sent[fmt.Sprintf("%s-%d", c.id, k)] = true
		}
	}
	var senders sync.WaitGroup
	for _, c := range clients {
		senders.Go(func() {
			for k := range each {
				c.send(fmt.Sprintf("%s-%d", c.id, k))
			}
		})
	}
	senders.Wait()
	checkSameLines(t, clients, sent)
}
