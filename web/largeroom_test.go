package web_test

import (
	"fmt"
	"testing"

	"github.com/gorilla/websocket"
)

// dialMembers connects n plain WebSocket clients named prefix0.. to room and
// reads (and drops) everything they receive until the test ends.
func dialMembers(t *testing.T, addr, room, prefix string, n int) {
	t.Helper()
	for i := range n {
		url := fmt.Sprintf("ws://%s/ws/%s%d?room=%s", addr, prefix, i, room)
		c, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		resp.Body.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() {
			c.Close()
			<-done
		})
	}
}

// In a room larger than the welcome's member list, the online list shows
// who it can and "and N more"; presence events keep the count current.
func TestLargeRoomMemberCount(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0")
	browser := newBrowser(t)
	dialMembers(t, srv.Addr, "big", "m", 110)

	p := openPage(t, browser, "ana", "http://"+srv.Addr+"/?room=big")
	p.join("ana")
	// 111 members; the welcome lists at most 100 of them.
	p.waitJS(`document.getElementById("member-count").textContent === "(111)" &&
		/^and \d+ more$/.test(document.getElementById("members-more").textContent) &&
		!document.getElementById("members-more").hidden &&
		document.querySelectorAll("#members li").length +
			Number(document.getElementById("members-more").textContent.match(/\d+/)[0]) === 111`,
		`"and N more" adding up to 111 members`)

	dialMembers(t, srv.Addr, "big", "late", 5)
	p.waitJS(`document.getElementById("member-count").textContent === "(116)" &&
		document.getElementById("members-more").textContent.startsWith("and ")`,
		"the count raised to 116 by presence events")
}
