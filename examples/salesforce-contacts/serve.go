package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gonango/nango/api"
)

// serve runs the program as a service until ctx is done: the engine's scheduler and its webhook
// delivery to o.webhookURL, the Nango-compatible API on o.listen and, with the fake org, its
// activity.
func serve(ctx context.Context, out io.Writer, o options) error {
	if o.secret == "" && !o.noAuth {
		return errors.New("serving the API needs a secret key: give -secret (or NANGO_SECRET_KEY); -no-auth serves without one, for local development only")
	}
	// Webhooks are signed with a key of their own: every receiver holds it, so it must not be
	// the API's secret key, which reads and controls everything.
	generated := false
	switch {
	case o.webhookSigningKey != "" && o.webhookSigningKey == o.secret:
		return errors.New("-webhook-signing-key must differ from -secret: every webhook receiver holds the signing key")
	case o.webhookURL != "" && o.webhookSigningKey == "":
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		o.webhookSigningKey, generated = hex.EncodeToString(key), true
	}
	a, err := newApp(ctx, o)
	if err != nil {
		return err
	}
	defer a.close()
	cfg := &api.Config{DisableAuth: o.noAuth, Logger: a.logger}
	if o.secret != "" {
		cfg.SecretKeys = []string{o.secret}
	}
	h, err := api.New(a.eng, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      5 * time.Minute, // a page of 10,000 records to a slow client
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
	base := "http://" + ln.Addr().String()

	if a.fake != nil {
		activity := "it does not change"
		if o.fakeActivity > 0 {
			activity = "it changes a contact every " + o.fakeActivity.String()
		}
		fmt.Fprintf(out, "Fake Salesforce org with %d contacts; %s. Store: %s.\n", a.fake.count(), activity, a.where)
	} else {
		fmt.Fprintf(out, "Salesforce org %s. Store: %s.\n", a.instanceURL, a.where)
	}
	fmt.Fprintf(out, "Nango-compatible API on %s: integration %q, connection %q, sync %q (%s), model %q.\n",
		base, integrationKey, a.connection, syncName, a.frequency, modelName)
	if o.noAuth {
		fmt.Fprintln(out, "WARNING: the API runs without a secret key (-no-auth): anyone who reaches it can read and control everything.")
	}
	if o.webhookURL != "" {
		fmt.Fprintf(out, "Webhooks to %s, signed in the X-Nango-Hmac-Sha256 header.\n", o.webhookURL)
	}
	if generated {
		fmt.Fprintf(out, "Webhook signing key (generated, shown once; give it to the receiver, and pass it with -webhook-signing-key to keep it across restarts): %s\n", o.webhookSigningKey)
	}
	auth := ` -H "Authorization: Bearer $NANGO_SECRET_KEY"`
	if o.noAuth {
		auth = ""
	}
	fmt.Fprintf(out, "Try:\n  curl%s -H \"Connection-Id: %s\" -H \"Provider-Config-Key: %s\" \"%s/records?model=%s&limit=5\"\n",
		auth, a.connection, integrationKey, base, modelName)
	fmt.Fprintf(out, "  curl%s \"%s/sync/status?syncs=*&provider_config_key=%s\"\n", auth, base, integrationKey)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		if err := a.eng.Run(ctx); err != nil {
			errc <- fmt.Errorf("engine: %w", err)
		}
	}()
	go func() {
		// Serve once the scheduler runs, so that a trigger sent right away finds it.
		select {
		case <-a.eng.Ready():
		case <-engineDone:
			_ = ln.Close()
			return
		}
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serving the API: %w", err)
		}
	}()
	if a.fake != nil && o.fakeActivity > 0 {
		go a.fakeActivity(ctx, o.fakeActivity)
	}
	if o.onReady != nil {
		o.onReady(a, base)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer stop()
	if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("stopping the API: %w", err)
	}
	cancel()
	<-engineDone // the engine's Run also stops the webhook delivery worker
	return runErr
}

// fakeActivity changes the fake org every period until ctx is done.
func (a *app) fakeActivity(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.logger.Info("fake Salesforce: " + a.fake.activity(n))
		}
	}
}
