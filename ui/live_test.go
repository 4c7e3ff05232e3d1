package ui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

// sse reads server-sent events: it returns each event's name and data.
func sse(t *testing.T, ctx context.Context, u string) <-chan [2]string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	out := make(chan [2]string, 100)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				out <- [2]string{name, v}
			}
		}
	}()
	return out
}

func TestLiveProgress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	f.runEngine(t)
	gate := make(chan struct{})
	f.src.mu.Lock()
	f.src.contacts, f.src.gate = contacts(10, "Ada"), gate
	f.src.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a bound, not a wait
	defer cancel()

	events := sse(t, ctx, f.url+"/s/crm/contacts/acme/events?run=&running=0")
	require.NoError(t, f.eng.Trigger(ctx, nango.TriggerParams{SyncSelector: nango.SyncSelector{Integration: "crm", Syncs: []string{"contacts"}, Connection: "acme"}}))
	var p struct {
		RunID  string `json:"run_id"`
		Models []struct {
			Model string `json:"model"`
			Added int    `json:"added"`
		} `json:"models"`
		Log []string `json:"log"`
	}
	for ev := range events {
		if ev[0] != "progress" {
			continue
		}
		require.NoError(t, json.Unmarshal([]byte(ev[1]), &p))
		if len(p.Models) == 1 && p.Models[0].Added == 5 {
			break // the first half is committed; the run waits at the gate
		}
	}
	require.Equal(t, "Contact", p.Models[0].Model)
	require.NotEmpty(t, p.RunID)
	require.Contains(t, strings.Join(p.Log, "\n"), "fetched contacts count=10")

	// The run page of the running run shows the same progress without the script.
	_, body := get(t, browser(t), f.url+"/s/crm/contacts/acme/runs/"+p.RunID, "Authorization", "Bearer "+secret)
	require.Contains(t, body, `<td data-label="Added" class="num">5</td>`)
	require.Contains(t, body, `data-events="/ui/s/crm/contacts/acme/events?run=`+p.RunID+`&amp;running=1"`)

	close(gate)
	var done struct {
		RunID string `json:"run_id"`
		State string `json:"state"`
	}
	for ev := range events {
		if ev[0] == "done" {
			require.NoError(t, json.Unmarshal([]byte(ev[1]), &done))
			break
		}
	}
	require.Equal(t, p.RunID, done.RunID)
	require.Equal(t, string(nango.RunSucceeded), done.State)
}
