package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

// Organization kinds of load, each compared with the webhook's user.created.
const (
	kindMemberCreated = "webhook organizationMembership.created"
	kindOrgCreated    = "webhook organization.created"
)

// benchOrgs is how many organizations the memberships join: the first
// membership of each creates it from its embedded copy, the rest find it.
const benchOrgs = 50

func loadOrgTemplate(root string) (*loadgen.OrgTemplate, error) {
	org, err := os.ReadFile(filepath.Join(root, "testdata", "organization.created.json"))
	if err != nil {
		return nil, err
	}
	member, err := os.ReadFile(filepath.Join(root, "testdata", "organizationMembership.created.json"))
	if err != nil {
		return nil, err
	}
	return loadgen.NewOrgTemplate(org, member)
}

// memberCreates are new memberships of seeded clients, so that each is
// linked to its client as in production.
func (b *bench) memberCreates(n int) ([]*http.Request, func([]byte) bool) {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		c, at := b.nextSeeded()
		k := b.fresh.Add(1)
		body := b.orgTmpl.MembershipBody("organizationMembership.created", fmt.Sprintf("orgmem_bench_%07d", k),
			fmt.Sprintf("org_bench_%03d", k%benchOrgs), seedClerkID(c), "org:member", at, b.base)
		reqs[i] = must(b.signer.Request(b.url, loadgen.Delivery{SvixID: fmt.Sprint("msg_mem_", k), Body: body}))
	}
	return reqs, outcome("created")
}

func (b *bench) orgCreates(n int) ([]*http.Request, func([]byte) bool) {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		k := b.fresh.Add(1)
		at := b.base + 1000 + b.seq.Add(1)
		body := b.orgTmpl.OrganizationBody("organization.created", fmt.Sprintf("org_new_%07d", k), at)
		reqs[i] = must(b.signer.Request(b.url, loadgen.Delivery{SvixID: fmt.Sprint("msg_org_", k), Body: body}))
	}
	return reqs, outcome("created")
}

// printOrgRatios prints the organization rows as ratios to user.created.
func printOrgRatios(r *report) {
	created := r.get(kindCreated).res.Rate()
	if created == 0 {
		return
	}
	member, org := r.get(kindMemberCreated).res.Rate()/created, r.get(kindOrgCreated).res.Rate()/created
	// The CPU an event costs varies less than rates on a shared machine.
	cpu := r.get(kindCreated).cpuPerEvent()
	fmt.Printf("Organizations vs user.created (events/s): organizationMembership.created %.2fx (target >= 0.8x %s), organization.created %.2fx; by server CPU per event: %.2fx and %.2fx\n",
		member, verdict(member >= 0.8), org, ratio(cpu, r.get(kindMemberCreated).cpuPerEvent()), ratio(cpu, r.get(kindOrgCreated).cpuPerEvent()))
}
