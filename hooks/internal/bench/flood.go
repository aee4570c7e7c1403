package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

const (
	floodRequests = 200     // concurrent unsigned requests
	floodBody     = 1 << 20 // bytes each: the webhook's largest body
	floodWaves    = 3
	floodLimitMiB = 100
)

// runFlood sends waves of concurrent unsigned 1 MiB bodies, which the server
// must read before it can tell that they are not signed, with one signed
// delivery in the middle of each wave, and reports the server's peak RSS
// against its RSS before, and what the signed delivery got.
func (b *bench) runFlood() {
	pid := b.srv.PID()
	before, _ := loadgen.ProcStatus(pid)
	_ = loadgen.ResetPeakRSS(pid)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: floodRequests + 1, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()
	body := bytes.Repeat([]byte(" "), floodBody)

	statuses := map[int]int{}
	var signed []string
	signedOK := true
	for wave := range floodWaves {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range floodRequests {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodPost, b.url+loadgen.WebhookPath, bytes.NewReader(body))
				req.Header.Set("svix-id", "msg_flood")
				req.Header.Set("svix-timestamp", fmt.Sprint(time.Now().Unix()))
				req.Header.Set("svix-signature", "v1,Zm9yZ2Vk")
				status := 0
				if res, err := client.Do(req); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					status = res.StatusCode
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			})
		}
		time.Sleep(20 * time.Millisecond) // the flood is on
		at := b.base + 1000 + b.seq.Add(1)
		k := b.fresh.Add(1)
		u := loadgen.User{ID: fmt.Sprintf("user_bench_%07d", k), Email: fmt.Sprintf("new%07d@example.org", k), FirstName: "Flood", LastName: fmt.Sprint(wave), CreatedAt: at, UpdatedAt: at}
		req := must(b.signer.Request(b.url, loadgen.Delivery{SvixID: fmt.Sprint("msg_flood_signed_", k), Body: b.tmpl.Body("user.created", u)}))
		started := time.Now()
		status := 0
		if res, err := client.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			status = res.StatusCode
		}
		signed = append(signed, fmt.Sprintf("%d in %s", status, ms(time.Since(started))))
		signedOK = signedOK && status >= 200 && status < 300
		wg.Wait()
	}
	after, _ := loadgen.ProcStatus(pid)

	verdict := "within"
	if after["VmHWM"] > floodLimitMiB<<10 || !signedOK {
		verdict = "NOT within"
	}
	fmt.Printf("\nunsigned flood: %d waves of %d concurrent %d MiB bodies: peak RSS %s (RSS before %s), answers %v; "+
		"a signed delivery in each wave: %v; %s the target (peak under %d MiB, signed delivery 2xx)\n",
		floodWaves, floodRequests, floodBody>>20, mib(after["VmHWM"]), mib(before["VmRSS"]), statuses, signed, verdict, floodLimitMiB)
}
