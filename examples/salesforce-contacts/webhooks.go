package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gonango/nango"
)

// webhookSender sends Nango's webhook after each run that changed records: it follows the
// sync's run history, since the engine has no run-finished hook yet. Delivery is as Nango's:
// three attempts, no retry on a 4xx; a webhook that cannot be delivered is logged and dropped,
// and the change feed (by cursor) remains the way to catch up.
type webhookSender struct {
	url    string
	key    []byte
	a      *app
	poll   time.Duration
	client *http.Client
	logger *slog.Logger
	seen   map[string]bool // runs already handled
	done   chan struct{}
	delays []time.Duration // between attempts
}

// newWebhookSender starts after the runs already in the history: a restart does not send
// their webhooks again.
func newWebhookSender(ctx context.Context, a *app, url string, key []byte, poll time.Duration) (*webhookSender, error) {
	if poll <= 0 {
		poll = time.Second
	}
	s := &webhookSender{
		url: url, key: key, a: a, poll: poll, logger: a.logger,
		client: &http.Client{Timeout: 20 * time.Second},
		seen:   map[string]bool{}, done: make(chan struct{}),
		delays: []time.Duration{3 * time.Second, 6 * time.Second},
	}
	runs, err := s.history(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		s.seen[r.ID] = true
	}
	return s, nil
}

func (s *webhookSender) history(ctx context.Context) ([]*nango.Run, error) {
	runs, err := s.a.eng.RunHistory(ctx, nango.RunHistoryParams{Integration: integrationKey, Sync: syncName, Connection: s.a.connection, Limit: 50})
	if err != nil {
		return nil, fmt.Errorf("webhooks: reading the run history: %w", err)
	}
	return runs, nil
}

// loop sends the webhooks of runs as they finish, until ctx is done.
func (s *webhookSender) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.check(ctx)
		}
	}
}

func (s *webhookSender) wait() { <-s.done }

func (s *webhookSender) check(ctx context.Context) {
	runs, err := s.history(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn(err.Error())
		}
		return
	}
	slices.Reverse(runs) // oldest first
	seen := make(map[string]bool, len(runs))
	for _, r := range runs {
		if r.State == nango.RunRunning {
			break // its webhook, and those of later runs, next time
		}
		seen[r.ID] = true
		if s.seen[r.ID] {
			continue
		}
		s.seen[r.ID] = true
		res := &nango.RunResult{
			RunID: r.ID, Integration: r.Key.Integration, Sync: r.Key.Sync, Connection: r.Key.Connection,
			Trigger: r.Trigger, State: r.State, Initial: r.Initial, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
			Models: r.Results,
		}
		for _, p := range nango.WebhookPayloads(res, false) {
			body, err := p.Encode()
			if err == nil {
				err = s.deliver(ctx, body)
			}
			if err != nil {
				s.logger.Warn("webhook not delivered", "run_id", r.ID, "model", p.Model, "error", err)
			}
		}
	}
	for id := range s.seen { // keep the set as small as the history read
		if !seen[id] {
			delete(s.seen, id)
		}
	}
}

// deliver posts a webhook body, signed, with up to three attempts.
func (s *webhookSender) deliver(ctx context.Context, body []byte) error {
	sig := nango.SignWebhook(s.key, body)
	var err error
	for attempt := 0; ; attempt++ {
		var status int
		status, err = s.post(ctx, body, sig)
		if err == nil {
			return nil
		}
		if attempt == len(s.delays) || (status >= 300 && status < 500) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(s.delays[attempt]):
		}
	}
}

func (s *webhookSender) post(ctx context.Context, body []byte, sig string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gonango-webhooks")
	req.Header.Set(nango.WebhookSignatureHeader, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("%s answered %s", s.url, resp.Status)
	}
	return resp.StatusCode, nil
}
