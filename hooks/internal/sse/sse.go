// Package sse reads PocketBase's realtime messages (server-sent events) as a
// browser's EventSource reads them, for the tests and the bench.
package sse

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Next reads the next event's name and data from s; the name is empty once
// the stream ends.
func Next(s *bufio.Scanner) (name, data string) {
	for s.Scan() {
		line := s.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimPrefix(line, "data:")
		case line == "" && name != "":
			return name, data
		}
	}
	return "", ""
}

// Event is one realtime message.
type Event struct {
	Name string
	Data map[string]any // Raw decoded
	Raw  string         // the data as sent
}

// Record is the message's record (nil when it has none).
func (ev Event) Record() map[string]any {
	r, _ := ev.Data["record"].(map[string]any)
	return r
}

// Read hands body's events over a channel, which closes when the body
// ends; body is closed then.
func Read(body io.ReadCloser) <-chan Event {
	events := make(chan Event, 16)
	go func() {
		defer body.Close()
		defer close(events)
		s := bufio.NewScanner(body)
		for {
			name, data := Next(s)
			if name == "" {
				return
			}
			ev := Event{Name: name, Raw: data}
			_ = json.Unmarshal([]byte(data), &ev.Data)
			events <- ev
		}
	}()
	return events
}

// ErrClosed is Receive's error for a connection that ended.
var ErrClosed = errors.New("realtime connection closed")

// Receive is the next event, within d.
func Receive(events <-chan Event, d time.Duration) (Event, error) {
	select {
	case ev, ok := <-events:
		if !ok {
			return Event{}, ErrClosed
		}
		return ev, nil
	case <-time.After(d):
		return Event{}, fmt.Errorf("no realtime event within %s", d)
	}
}
