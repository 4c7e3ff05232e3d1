package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gonango/nango/store"
)

func runCheckpoint(e *env, args []string) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "clear") {
		fmt.Fprintf(e.stderr, "usage: %s checkpoint %s\n", e.name, commandArgs("checkpoint"))
		return fmt.Errorf("%w: checkpoint needs show or clear", ErrUsage)
	}
	sub := args[0]
	f := e.flags("checkpoint "+sub, commandArgs("checkpoint")).withIntegration().withSync(true).withConnection(true).withJSON()
	yes := false
	if sub == "clear" {
		f.BoolVar(&yes, "yes", false, "clear it: the next run starts over, as an initial run from its first page")
	}
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if err := e.checkSync(f.integration, f.sync); err != nil {
		return err
	}
	key := store.CheckpointKey(f.syncKey())
	cp, err := e.st.CheckpointGet(e.ctx, key)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return wrapf(err, "loading checkpoint of %s for %q", f.sync, f.connection)
	}
	if sub == "show" {
		if found {
			if cp.Data, err = e.opener.OpenCheckpoint(e.ctx, key, cp.Data); err != nil {
				return wrapf(err, "reading checkpoint of %s for %q", f.sync, f.connection)
			}
		}
		if f.json {
			out := map[string]any{"checkpoint": nil}
			if found {
				out = map[string]any{"checkpoint": json.RawMessage(cp.Data), "version": cp.Version, "updated_at": cp.UpdatedAt.UTC().Format(time.RFC3339Nano)}
			}
			return writeJSON(e.stdout, out)
		}
		if !found {
			fmt.Fprintf(e.stdout, "no checkpoint: the next run of %s for %q is an initial run\n", f.sync, f.connection)
			return nil
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, cp.Data, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(cp.Data)
		}
		fmt.Fprintf(e.stdout, "version %d, saved %s\n%s\n", cp.Version, timeText(cp.UpdatedAt), pretty.String())
		return nil
	}
	if !found {
		fmt.Fprintf(e.stdout, "no checkpoint to clear for %s of %q\n", f.sync, f.connection)
		return nil
	}
	if !yes {
		fmt.Fprintf(e.stdout, "checkpoint of %s for %q (version %d): %s\n", f.sync, f.connection, cp.Version, clip(string(cp.Data), 200))
		return fmt.Errorf("%w: clearing it makes the next run start over; run again with -yes to clear it", ErrUsage)
	}
	// The version check makes a run in progress fail with a checkpoint conflict rather than
	// write its checkpoint back over the cleared one.
	err = e.st.CheckpointDelete(e.ctx, &store.CheckpointDeleteParams{Key: key, ExpectedVersion: cp.Version})
	if errors.Is(err, store.ErrVersionConflict) {
		return wrapf(err, "the checkpoint changed while clearing it (a run is in progress?)")
	}
	if err != nil {
		return wrapf(err, "clearing checkpoint")
	}
	fmt.Fprintf(e.stdout, "cleared the checkpoint of %s for %q (it was %s)\n", f.sync, f.connection, clip(string(cp.Data), 200))
	return nil
}
