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

func (t total) cpuPerEvent() time.Duration {
	if n := len(t.res.Latencies); n > 0 {
		return t.cpu / time.Duration(n)
	}
	return 0
}

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

// peakKB is the app's peak RSS over every kind (the limit is another process).
func (r *report) peakKB() int64 {
	var kb int64
	for _, k := range r.order {
		if limitOf(k) != k {
			kb = max(kb, r.get(k).peakKB)
		}
	}
	return kb
}

// limitOf is the limit row a row is compared with: the limit's own kind
// for updates of existing records, its creates for the rest.
func limitOf(kind string) string {
	switch kind {
	case kindLimitUpdated, kindUpdated, kindPatch:
		return kindLimitUpdated
	}
	return kindLimitCreated
}

func (r *report) print() {
	r.printRows()
	r.printTargets()
}

func (r *report) printRows() {
	fmt.Println("| load | events | failed | events/s | × limit | p50 | p99 | peak RSS | server CPU/event | × limit's CPU/event |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range r.order {
		t := r.get(k)
		failed := fmt.Sprint(t.res.Failed)
		if t.unexpected > 0 {
			failed += fmt.Sprintf(" (+%d unexpected outcome)", t.unexpected)
		}
		perEvent := t.cpuPerEvent()
		toLimit, cpuToLimit := "—", "—"
		if _, ok := r.phases[limitOf(k)]; ok {
			toLimit, cpuToLimit = fmt.Sprintf("%.2f", r.ratioToLimit(k)), fmt.Sprintf("%.2f", r.cpuToLimit(k))
		}
		fmt.Printf("| %s | %d | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", k, t.res.Requests, failed, t.res.Rate(),
			toLimit, ms(t.res.Percentile(50)), ms(t.res.Percentile(99)), mib(t.peakKB), ms(perEvent), cpuToLimit)
	}
}

func (r *report) printTargets() {
	upd, cre := r.get(kindUpdated), r.get(kindCreated)
	if patch := r.get(kindPatch).res.Rate(); patch > 0 {
		fmt.Printf("\nRatios to the PATCH baseline (events/s): user.updated %.2fx, user.created %.2fx\n",
			upd.res.Rate()/patch, cre.res.Rate()/patch)
	}
	updLimit, creLimit := r.ratioToLimit(kindUpdated), r.ratioToLimit(kindCreated)
	p99 := max(upd.res.Percentile(99), cre.res.Percentile(99))
	peak := r.peakKB()
	fmt.Printf("Targets: user.updated >= 0.5x limit %s (%.2fx); user.created >= 0.45x limit %s (%.2fx); webhook p99 <= 50 ms %s (%s); peak RSS <= 100 MiB %s (%s)\n",
		verdict(updLimit >= 0.5), updLimit, verdict(creLimit >= 0.45), creLimit, verdict(p99 <= 50*time.Millisecond), ms(p99),
		verdict(peak <= 100*1024), mib(peak))
}

// cpuToLimit is the limit's server CPU per event over kind's: on a busy
// machine the rates depend on what else runs, the CPU an event costs less.
func (r *report) cpuToLimit(kind string) float64 {
	own, limit := r.get(kind).cpuPerEvent(), r.get(limitOf(kind)).cpuPerEvent()
	if own == 0 {
		return 0
	}
	return float64(limit) / float64(own)
}

// ratioToLimit is kind's rate over its limit row's rate.
func (r *report) ratioToLimit(kind string) float64 {
	limit := r.get(limitOf(kind)).res.Rate()
	if limit == 0 {
		return 0
	}
	return r.get(kind).res.Rate() / limit
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
