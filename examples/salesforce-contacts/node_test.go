package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

// nangoNodeVersion is the version of Nango's official Node client the compatibility test
// installs from the npm registry (npm view @nangohq/node version).
const nangoNodeVersion = "0.71.10"

// nodeScript drives the service with @nangohq/node and prints what it saw as JSON.
const nodeScript = `
import { readFileSync } from 'node:fs';
import { Nango } from '@nangohq/node';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const nango = new Nango({ host: cfg.host, apiKey: cfg.secretKey, webhookSigningKey: cfg.signingKey });
const base = { providerConfigKey: cfg.integration, connectionId: cfg.connectionId, model: cfg.model };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ids = (records) => records.map((r) => r.id);
async function listAll(params) {
  const out = [];
  let cursor = null;
  let pages = 0;
  let last;
  do {
    const page = await nango.listRecords({ ...base, ...params, cursor });
    pages++;
    out.push(...page.records);
    last = page.next_cursor;
    cursor = page.next_cursor;
  } while (cursor);
  return { records: out, pages, last };
}
async function status() {
  const res = await nango.syncStatus(cfg.integration, [cfg.sync], cfg.connectionId);
  return res.syncs[0];
}
// waitRun waits for a run that finishes after the one that finished at before.
async function waitRun(before) {
  for (let i = 0; i < 1000; i++) {
    const s = await status();
    if (s.status !== 'RUNNING' && s.finishedAt !== before) return s;
    await sleep(10);
  }
  throw new Error('the triggered run did not finish');
}
// triggered triggers a sync. A run that just finished keeps its place in the scheduler for a
// moment after its status says it finished: a 409 is then retried.
async function triggered(...args) {
  for (let i = 0; ; i++) {
    try {
      return (await nango.triggerSync(...args)).data;
    } catch (e) {
      if (e.response?.status !== 409 || i >= 500) throw e;
      await sleep(10);
    }
  }
}
async function apiError(promise) {
  try {
    await promise;
    return 'no error';
  } catch (e) {
    return { status: e.response?.status, code: e.response?.data?.error?.code };
  }
}

const out = {};

// The whole feed, three records a page.
const all = await listAll({ limit: 3 });
out.pages = all.pages;
out.lastNextCursor = all.last;
out.records = all.records.map((r) => ({
  id: r.id,
  idType: typeof r.id,
  email: r.email,
  metaKeys: Object.keys(r._nango_metadata).sort(),
  ...r._nango_metadata,
}));

// modifiedAfter: from the first record the second run changed, as the API writes the time and
// as JavaScript does.
const pivot = all.records.find((r) => r._nango_metadata.last_action !== 'ADDED');
out.modifiedAfter = pivot._nango_metadata.last_modified_at;
out.modifiedAfterIds = ids((await listAll({ modifiedAfter: out.modifiedAfter, limit: 2 })).records);
out.modifiedAfterJs = new Date(out.modifiedAfter).toISOString();
out.modifiedAfterJsIds = ids((await listAll({ modifiedAfter: out.modifiedAfterJs })).records);

// filter and ids.
out.deleted = ids((await listAll({ filter: 'deleted' })).records);
out.updated = ids((await listAll({ filter: 'UPDATED' })).records);
out.addedUpdated = ids((await listAll({ filter: 'added,updated' })).records);
out.byIds = ids((await nango.listRecords({ ...base, ids: [all.records[4].id, all.records[0].id, 'nope'] })).records);

// Errors.
out.badCursor = await apiError(nango.listRecords({ ...base, cursor: 'bogus' }));
out.unknownConnection = await apiError(nango.listRecords({ ...base, connectionId: 'nobody' }));
out.wrongKey = await apiError(new Nango({ host: cfg.host, apiKey: 'wrong' }).listRecords(base));

// The webhook the service sent.
out.webhook = {
  valid: nango.verifyIncomingWebhookRequest(cfg.webhookBody, cfg.webhookHeaders),
  tampered: nango.verifyIncomingWebhookRequest(cfg.webhookBody.replace('"added":10', '"added":11'), cfg.webhookHeaders),
  otherKey: new Nango({ host: cfg.host, apiKey: cfg.secretKey, webhookSigningKey: 'other' }).verifyIncomingWebhookRequest(cfg.webhookBody, cfg.webhookHeaders),
  payload: JSON.parse(cfg.webhookBody),
};

// Sync control.
let s = await status();
out.status = s;
out.statusAll = (await nango.syncStatus(cfg.integration, '*')).syncs.length;
out.frequency = (await nango.updateSyncConnectionFrequency(cfg.integration, cfg.sync, cfg.connectionId, 'every 2 hours')).frequency;
out.frequencyStatus = (await status()).frequency;
out.frequencyReverted = (await nango.updateSyncConnectionFrequency(cfg.integration, { name: cfg.sync, variant: 'base' }, cfg.connectionId, null)).frequency;
out.trigger = await triggered(cfg.integration, [cfg.sync], cfg.connectionId);
s = await waitRun(s.finishedAt);
out.afterTrigger = s.latestExecutionStatus;
out.reset = await triggered(cfg.integration, [cfg.sync], cfg.connectionId, { reset: true });
s = await waitRun(s.finishedAt);
out.afterReset = { status: s.latestExecutionStatus, type: s.type };
out.badVariant = await apiError(nango.triggerSync(cfg.integration, [{ name: cfg.sync, variant: 'eu' }], cfg.connectionId));
out.pause = (await nango.pauseSync(cfg.integration, [cfg.sync], cfg.connectionId)).data;
out.paused = (await status()).status;
out.start = (await nango.startSync(cfg.integration, [cfg.sync], cfg.connectionId)).data;
out.started = (await status()).status;

console.log(JSON.stringify(out));
`

// nodeOutput is what the script prints.
type nodeOutput struct {
	Pages          int     `json:"pages"`
	LastNextCursor *string `json:"lastNextCursor"`
	Records        []struct {
		ID             string   `json:"id"`
		IDType         string   `json:"idType"`
		Email          string   `json:"email"`
		MetaKeys       []string `json:"metaKeys"`
		FirstSeenAt    string   `json:"first_seen_at"`
		LastModifiedAt string   `json:"last_modified_at"`
		LastAction     string   `json:"last_action"`
		DeletedAt      *string  `json:"deleted_at"`
		PrunedAt       *string  `json:"pruned_at"`
		Cursor         string   `json:"cursor"`
	} `json:"records"`
	ModifiedAfter      string         `json:"modifiedAfter"`
	ModifiedAfterIDs   []string       `json:"modifiedAfterIds"`
	ModifiedAfterJs    string         `json:"modifiedAfterJs"`
	ModifiedAfterJsIDs []string       `json:"modifiedAfterJsIds"`
	Deleted            []string       `json:"deleted"`
	Updated            []string       `json:"updated"`
	AddedUpdated       []string       `json:"addedUpdated"`
	ByIDs              []string       `json:"byIds"`
	BadCursor          apiErrorOutput `json:"badCursor"`
	UnknownConnection  apiErrorOutput `json:"unknownConnection"`
	WrongKey           apiErrorOutput `json:"wrongKey"`
	BadVariant         apiErrorOutput `json:"badVariant"`
	Webhook            struct {
		Valid    bool                 `json:"valid"`
		Tampered bool                 `json:"tampered"`
		OtherKey bool                 `json:"otherKey"`
		Payload  nango.WebhookPayload `json:"payload"`
	} `json:"webhook"`
	Status struct {
		Name         string         `json:"name"`
		Variant      string         `json:"variant"`
		ConnectionID string         `json:"connection_id"`
		Status       string         `json:"status"`
		Frequency    string         `json:"frequency"`
		RecordCount  map[string]int `json:"recordCount"`
	} `json:"status"`
	StatusAll         int             `json:"statusAll"`
	Frequency         string          `json:"frequency"`
	FrequencyStatus   string          `json:"frequencyStatus"`
	FrequencyReverted string          `json:"frequencyReverted"`
	Trigger           map[string]bool `json:"trigger"`
	AfterTrigger      string          `json:"afterTrigger"`
	Reset             map[string]bool `json:"reset"`
	AfterReset        struct {
		Status string `json:"status"`
		Type   string `json:"type"`
	} `json:"afterReset"`
	Pause   map[string]bool `json:"pause"`
	Paused  string          `json:"paused"`
	Start   map[string]bool `json:"start"`
	Started string          `json:"started"`
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

type apiErrorOutput struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
}

// TestNodeClient drives the service with Nango's official Node client, installed from the npm
// registry into a temporary directory. It skips when node or npm is missing, or when the
// registry cannot be reached.
func TestNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("installs @nangohq/node from the npm registry; skipped with -short")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the compatibility test with @nangohq/node needs Node.js 18 or newer and npm")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not on PATH: the compatibility test with @nangohq/node needs it to install the client")
	}
	t.Parallel()
	version, err := exec.CommandContext(t.Context(), node, "--version").Output()
	require.NoError(t, err)
	if m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(version); m == nil || atoi(string(m[1])) < 18 {
		t.Skipf("node %s is too old: @nangohq/node needs Node.js 18 or newer", strings.TrimSpace(string(version)))
	}

	dir := t.TempDir()
	installCtx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(installCtx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund",
		"--no-package-lock", "--loglevel=error", "@nangohq/node@"+nangoNodeVersion)
	install.Dir = dir
	install.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("npm install @nangohq/node@%s failed (offline?): %v\n%s", nangoNodeVersion, err, out)
	}

	// The service, with its store encrypted as NANGO_ENCRYPTION_KEY would have it, its first
	// run (10 contacts) and a second run after the walkthrough's changes: an add, two updates,
	// a delete.
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	s := startService(t, options{webhookSigningKey: testSigningKey, encKey: key})
	first, _ := s.nextWebhook(t)
	s.changeOrg(t)
	s.nextWebhook(t)

	cfg := map[string]any{
		"host": s.url, "secretKey": testSecret, "signingKey": testSigningKey,
		"integration": integrationKey, "connectionId": s.app.connection, "model": modelName, "sync": syncName,
		"webhookBody":    string(first.body),
		"webhookHeaders": map[string]string{"X-Nango-Hmac-Sha256": first.header.Get("X-Nango-Hmac-Sha256"), "Content-Type": first.header.Get("Content-Type")},
	}
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "check.mjs"), []byte(nodeScript), 0o600))
	runCtx, cancelRun := context.WithTimeout(t.Context(), time.Minute)
	defer cancelRun()
	cmd := exec.CommandContext(runCtx, node, "check.mjs", "config.json")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "node: %s", stderr.String())
	var got nodeOutput
	require.NoError(t, json.Unmarshal(stdout, &got), string(stdout))

	// What the engine holds, to compare with.
	eng := s.app.eng
	list := func(p nango.ListRecordsParams) []string {
		p.Integration, p.Connection, p.Model = integrationKey, s.app.connection, modelName
		var ids []string
		for r, err := range eng.AllRecords(t.Context(), p) {
			require.NoError(t, err)
			ids = append(ids, r.ID)
		}
		return ids
	}
	feed, err := eng.ListRecords(t.Context(), nango.ListRecordsParams{Integration: integrationKey, Connection: s.app.connection, Model: modelName, Limit: 100})
	require.NoError(t, err)
	require.Len(t, feed.Records, 11)

	// listRecords through every page.
	require.Equal(t, 4, got.Pages)
	require.Nil(t, got.LastNextCursor)
	require.Len(t, got.Records, len(feed.Records))
	timeForm := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$`)
	for i, r := range got.Records {
		want := feed.Records[i]
		require.Equal(t, want.ID, r.ID)
		require.Equal(t, "string", r.IDType)
		require.Equal(t, []string{"cursor", "deleted_at", "first_seen_at", "last_action", "last_modified_at", "pruned_at"}, r.MetaKeys)
		require.Equal(t, string(want.Metadata.LastAction), r.LastAction)
		require.Equal(t, want.Metadata.Cursor, r.Cursor)
		require.Regexp(t, timeForm, r.FirstSeenAt)
		require.Regexp(t, timeForm, r.LastModifiedAt)
		require.Equal(t, want.Metadata.LastModifiedAt.Format("2006-01-02T15:04:05.000000")+"+00:00", r.LastModifiedAt)
		require.Nil(t, r.PrunedAt)
		require.Equal(t, want.Metadata.LastAction == nango.ActionDeleted, r.DeletedAt != nil)
		var c SalesforceContact
		require.NoError(t, want.Decode(&c))
		require.Equal(t, c.Email, r.Email)
	}

	// modifiedAfter, filter, ids.
	since, err := time.Parse(time.RFC3339Nano, got.ModifiedAfter)
	require.NoError(t, err)
	require.Equal(t, list(nango.ListRecordsParams{ModifiedAfter: since}), got.ModifiedAfterIDs)
	require.Len(t, got.ModifiedAfterIDs, 4, "the second run's add, updates and delete")
	sinceJs, err := time.Parse(time.RFC3339Nano, got.ModifiedAfterJs)
	require.NoError(t, err)
	require.Equal(t, list(nango.ListRecordsParams{ModifiedAfter: sinceJs}), got.ModifiedAfterJsIDs)
	require.Equal(t, list(nango.ListRecordsParams{Filter: nango.FilterDeleted}), got.Deleted)
	require.Len(t, got.Deleted, 1)
	require.Equal(t, list(nango.ListRecordsParams{Filter: nango.FilterUpdated}), got.Updated)
	require.Len(t, got.Updated, 2)
	require.Equal(t, list(nango.ListRecordsParams{Filter: nango.FilterAdded | nango.FilterUpdated}), got.AddedUpdated)
	require.Len(t, got.AddedUpdated, 10)
	require.Equal(t, []string{feed.Records[0].ID, feed.Records[4].ID}, got.ByIDs)

	// Errors as the client sees them.
	require.Equal(t, apiErrorOutput{400, "invalid_cursor"}, got.BadCursor)
	require.Equal(t, apiErrorOutput{400, "unknown_connection"}, got.UnknownConnection)
	require.Equal(t, apiErrorOutput{401, "unknown_account"}, got.WrongKey)
	require.Equal(t, apiErrorOutput{400, "unknown_variant"}, got.BadVariant)

	// The webhook, verified by the client.
	require.True(t, got.Webhook.Valid)
	require.False(t, got.Webhook.Tampered)
	require.False(t, got.Webhook.OtherKey)
	require.Equal(t, "SalesforceContact", got.Webhook.Payload.Model)
	require.Equal(t, &nango.WebhookResults{Added: 10}, got.Webhook.Payload.ResponseResults)

	// Sync control.
	require.Equal(t, "salesforce-contacts", got.Status.Name)
	require.Equal(t, "base", got.Status.Variant)
	require.Equal(t, "demo", got.Status.ConnectionID)
	require.Equal(t, "SUCCESS", got.Status.Status)
	require.Equal(t, "every hour", got.Status.Frequency)
	require.Equal(t, map[string]int{modelName: 10}, got.Status.RecordCount)
	require.Equal(t, 1, got.StatusAll)
	require.Equal(t, "every 2 hours", got.Frequency)
	require.Equal(t, "every 2 hours", got.FrequencyStatus)
	require.Equal(t, "every hour", got.FrequencyReverted)
	success := map[string]bool{"success": true}
	require.Equal(t, success, got.Trigger)
	require.Equal(t, "SUCCESS", got.AfterTrigger)
	require.Equal(t, success, got.Reset)
	require.Equal(t, "SUCCESS", got.AfterReset.Status)
	require.Contains(t, []string{"INITIAL", "INCREMENTAL"}, got.AfterReset.Type)
	require.Equal(t, success, got.Pause)
	require.Equal(t, "PAUSED", got.Paused)
	require.Equal(t, success, got.Start)
	require.Contains(t, []string{"SUCCESS", "RUNNING"}, got.Started, "no longer paused")

	// All of it served from a store file that holds no token and no record field in the clear.
	file, err := os.ReadFile(s.dbPath)
	require.NoError(t, err)
	secrets := []string{s.app.fake.refreshToken}
	s.app.fake.mu.Lock()
	for tok := range s.app.fake.sessions {
		secrets = append(secrets, tok)
	}
	s.app.fake.mu.Unlock()
	for _, r := range feed.Records {
		var c SalesforceContact
		require.NoError(t, r.Decode(&c))
		secrets = append(secrets, c.Email, `"first_name":"`+c.FirstName+`"`, `"last_name":"`+c.LastName+`"`)
	}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		require.False(t, bytes.Contains(file, []byte(secret)), "the store file holds %q in the clear", secret)
	}
	require.True(t, bytes.Contains(file, []byte(feed.Records[0].ID)), "record ids are not encrypted: the check reads the right file")
}
