package main

import (
	"fmt"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

// phase is one measured batch of one kind.
type phase struct {
	kind       string
	res        loadgen.Result
	peakKB     int64 // the server's peak RSS during the batch
	cpu        time.Duration
	unexpected int // 2xx answers with another outcome than the kind expects
}

// report pools the phases of each kind.
type report struct {
	order  []string
	phases map[string][]phase
}

func (r *report) add(p phase) {
	if r.phases == nil {
		r.phases = map[string][]phase{}
	}
	if _, ok := r.phases[p.kind]; !ok {
		r.order = append(r.order, p.kind)
	}
	r.phases[p.kind] = append(r.phases[p.kind], p)
}

// total is one kind over all rounds.
type total struct {
	res        loadgen.Result
	peakKB     int64
	cpu        time.Duration
	unexpected int
}

func (t total) p50() time.Duration { return t.res.Percentile(50) }

func (r *report) get(kind string) total {
	var t total
	var rs []loadgen.Result
	for _, p := range r.phases[kind] {
		rs = append(rs, p.res)
		t.peakKB = max(t.peakKB, p.peakKB)
		t.cpu += p.cpu
		t.unexpected += p.unexpected
	}
	t.res = loadgen.Merge(rs...)
	return t
}

func (r *report) peakKB() int64 {
	var kb int64
	for _, k := range r.order {
		kb = max(kb, r.get(k).peakKB)
	}
	return kb
}

func (r *report) print() {
	fmt.Println("| load | events | failed | events/s | p50 | p99 | peak RSS | server CPU/event |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range r.order {
		t := r.get(k)
		failed := fmt.Sprint(t.res.Failed)
		if t.unexpected > 0 {
			failed += fmt.Sprintf(" (+%d unexpected outcome)", t.unexpected)
		}
		perEvent := time.Duration(0)
		if n := len(t.res.Latencies); n > 0 {
			perEvent = t.cpu / time.Duration(n)
		}
		fmt.Printf("| %s | %d | %s | %.0f | %s | %s | %s | %s |\n", k, t.res.Requests, failed, t.res.Rate(),
			ms(t.res.Percentile(50)), ms(t.res.Percentile(99)), mib(t.peakKB), ms(perEvent))
	}
	patch := r.get(kindPatch).res.Rate()
	if patch == 0 {
		return
	}
	upd, cre := r.get(kindUpdated), r.get(kindCreated)
	updRatio, creRatio := upd.res.Rate()/patch, cre.res.Rate()/patch
	fmt.Printf("\nRatios to the PATCH baseline (events/s): user.updated %.2fx, user.created %.2fx\n", updRatio, creRatio)
	p99 := max(upd.res.Percentile(99), cre.res.Percentile(99))
	fmt.Printf("Targets: user.updated >= 1.5x PATCH %s; user.created >= 1.0x %s; webhook p99 <= 50 ms %s (%s); peak RSS <= 100 MiB %s (%s)\n",
		verdict(updRatio >= 1.5), verdict(creRatio >= 1.0), verdict(p99 <= 50*time.Millisecond), ms(p99),
		verdict(r.peakKB() <= 100*1024), mib(r.peakKB()))
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
