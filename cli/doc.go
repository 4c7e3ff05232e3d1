// Package cli is the nango command line as a package: the operator's and the sync author's
// commands, to mount in the service's own binary, where the syncs' code and the engine are.
//
//	func main() {
//		eng := newEngine() // nango.NewEngine over the service's store, integrations registered
//		if len(os.Args) > 1 && os.Args[1] == "nango" {
//			os.Exit(cli.Main(context.Background(), &cli.Config{Engine: eng, Name: "myservice nango"}, os.Args[2:]))
//		}
//		...
//	}
//
// # Commands
//
//	records     list records from the change feed: -cursor, -filter added,updated,deleted,
//	            -modified-after, -ids, -limit, -all; a table, or Nango's JSON with -json
//	status      the status of syncs per connection: state, frequency, next and latest run,
//	            record counts, checkpoint
//	history     past runs, newest first, with their counts, errors and (-log) logs
//	checkpoint  show or clear a sync's checkpoint (clear asks for -yes)
//	trigger     run a sync now and wait for it, with -reset, -empty-cache, -confirm-deletes
//	dry-run     run a sync against the real API, write nothing, and report what would be
//	            added, updated and deleted, with samples, the checkpoint and the requests
//
// Every command takes -json. trigger and dry-run show their progress on a terminal.
//
// The stand-alone binary cmd/nango runs the inspection commands on a store file without the
// syncs' code; trigger and dry-run need it, and so need this package in the service's binary.
package cli
