package hooks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
)

// stalledReader opens a realtime connection with a 4 KB receive buffer,
// reads its PB_CONNECT event and then nothing more, as a client that never
// reads does. It returns the connection and its realtime client id.
func stalledReader(t *testing.T, baseURL string) (net.Conn, string) {
	t.Helper()
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	conn, err := dialer.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/realtime HTTP/1.1\r\nHost: pocketclerk\r\nAccept: text/event-stream\r\n\r\n")
	r := bufio.NewReader(conn)
	clientID := regexp.MustCompile(`"clientId":"([^"]+)"`)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading PB_CONNECT: %v", err)
		}
		if m := clientID.FindStringSubmatch(line); m != nil {
			return conn, m[1]
		}
	}
}

// M1: a client that never reads what it subscribed to holds a bounded
// backlog: once it falls behind, the server ends its connection, whether
// the connection is in the realtime index or in PocketBase's connection
// loop.
func TestARealtimeReaderThatNeverReadsIsEnded(t *testing.T) {
	app := newTestApp(t)
	addClientField(t, app, &core.TextField{Name: "notes", Max: 10000})
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	idA := clientOf(t, app, userA).Id
	claims := validClaims(userA)
	claims["exp"] = time.Now().Add(10 * time.Minute).Unix() // 2,500 updates outlast a minute under -race
	auth := "Bearer " + srv.key.sign(t, claims)

	conns := map[string]net.Conn{}
	for name, topic := range map[string]string{"own record (index)": "clients/" + idA, "clients/* (PocketBase's loop)": "clients/*"} {
		conn, clientID := stalledReader(t, srv.URL)
		body, _ := json.Marshal(map[string]any{"clientId": clientID, "subscriptions": []string{topic}})
		if r := send(t, http.MethodPost, srv.URL+"/api/realtime", auth, string(body)); r.Status != http.StatusNoContent {
			t.Fatalf("%s: subscribe: %+v", name, r)
		}
		conns[name] = conn
	}

	before := runtime.NumGoroutine()
	record := srv.URL + "/api/collections/clients/records/" + idA
	peak := 0
	for i := range 2500 {
		body, _ := json.Marshal(map[string]any{"notes": fmt.Sprint(i) + strings.Repeat("x", 4000)})
		if r := send(t, http.MethodPatch, record, auth, string(body)); r.Status != http.StatusOK {
			t.Fatalf("PATCH %d: %d %v", i, r.Status, r.Body)
		}
		peak = max(peak, runtime.NumGoroutine()-before)
	}
	t.Logf("goroutines: %d more at the peak", peak)
	if limit := 2*realtimeindex.MaxQueuedMessages + 100; peak > limit {
		t.Errorf("%d goroutines more at the peak, want at most %d: the backlog is not bounded", peak, limit)
	}
	for name, conn := range conns {
		// Read what was sent: the server ended the stream.
		_ = conn.SetReadDeadline(time.Now().Add(2 * realtimeindex.WriteTimeout))
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Errorf("%s: the server did not end a connection that fell behind: %v", name, err)
		}
	}
}
