package ingest

import (
	"context"
	"sync"
	"testing"

	"github.com/veil-privacy/veil/infra/httpx"
	"github.com/veil-privacy/veil/infra/store"
	"github.com/veil-privacy/veil/privacy"
)

// Requests for one new device arriving together (the app's first launch
// sends several) must end up under one subject with one link per id, even
// though they share transactions and race to create the links.
func TestConcurrentRequestsForANewDeviceShareOneSubject(t *testing.T) {
	d := testDeps(t)
	s, _ := newService(d)
	app := &privacy.App{ID: "app_test"}
	const n = 24
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req privacy.AdRequest
			if err := httpx.DecodeBytes(benchBody("Same-Device-1"), &req); err != nil {
				errs[i] = err
				return
			}
			resp, err := s.Ingest(context.Background(), app, &req)
			if err == nil {
				ids[i] = resp.RequestID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	subjects := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		rec, err := d.DB.Records.Get(context.Background(), ids[i])
		if err != nil {
			t.Fatal(err)
		}
		subjects[rec.SubjectKey]++
	}
	if len(subjects) != 1 {
		t.Fatalf("one device filed under %d subjects", len(subjects))
	}
	var links []*privacy.DeviceLink
	_ = d.DB.Devices.Each(context.Background(), store.Query{}, func(l *privacy.DeviceLink) error { links = append(links, l); return nil })
	if len(links) != 2 {
		t.Fatalf("%d device links for a device with 2 ids", len(links))
	}
	for _, l := range links {
		if subjects[l.SubjectKey] != n {
			t.Fatalf("link %s points elsewhere", l.IDType)
		}
	}
}
