package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

// kindItemUpdated is Clerk Billing's most frequent event: a seeded
// client's subscription item changing, compared with user.created.
const kindItemUpdated = "webhook subscriptionItem.updated"

func loadItemTemplate(root string) (*loadgen.ItemTemplate, error) {
	fixture, err := os.ReadFile(filepath.Join(root, "testdata", "subscriptionItem.updated.json"))
	if err != nil {
		return nil, err
	}
	return loadgen.NewItemTemplate(fixture)
}

// itemUpdates change the subscription item of seeded clients, one item per
// client: the first change of an item creates it (with its plan, as Clerk's
// item carries it), later ones update it.
func (b *bench) itemUpdates(n int) ([]*http.Request, func([]byte) bool) {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		c, at := b.nextSeeded()
		k := b.fresh.Add(1)
		body := b.itemTmpl.ItemBody("subscriptionItem.updated", fmt.Sprintf("csub_item_bench_%07d", c), seedClerkID(c), "active", at)
		reqs[i] = must(b.signer.Request(b.url, loadgen.Delivery{SvixID: fmt.Sprint("msg_item_", k), Body: body}))
	}
	return reqs, func(body []byte) bool {
		var r struct{ Outcome string }
		return json.Unmarshal(body, &r) == nil && (r.Outcome == "created" || r.Outcome == "updated")
	}
}

// printBillingRatio prints the subscription item row as a ratio to
// user.created.
func printBillingRatio(r *report) {
	created := r.get(kindCreated).res.Rate()
	if created == 0 {
		return
	}
	item := r.get(kindItemUpdated).res.Rate() / created
	fmt.Printf("Billing vs user.created (events/s): subscriptionItem.updated %.2fx (target >= 0.8x %s); by server CPU per event: %.2fx\n",
		item, verdict(item >= 0.8), ratio(r.get(kindCreated).cpuPerEvent(), r.get(kindItemUpdated).cpuPerEvent()))
}
