package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
)

// childEnv, when set, makes the test binary run as a writer process of TestCommitOrderProcesses
// instead of running tests. The child reads its parameters from the environment.
const childEnv = "NANGO_POSTGRES_TEST_CHILD"

// childMain appends the batches of one writer (childEnv names it) to the stream of the schema in
// NANGO_POSTGRES_TEST_SCHEMA, and exits 0 when all are written.
func childMain() int {
	ctx := context.Background()
	writer := os.Getenv(childEnv)
	batches, err := strconv.Atoi(os.Getenv("NANGO_POSTGRES_TEST_BATCHES"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: batches:", err)
		return 2
	}
	s, err := postgres.Open(ctx, os.Getenv(envURL), &postgres.Options{Schema: os.Getenv("NANGO_POSTGRES_TEST_SCHEMA")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer s.Close()
	if err := appendBatches(ctx, s, writer, batches); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// orderStream is the stream the commit-order tests write.
var orderStream = store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}

const orderBatch = 20

// orderID is the id of record i of batch b of a writer.
func orderID(writer string, b, i int) string { return fmt.Sprintf("%s-%04d-%02d", writer, b, i) }

// appendBatches writes batches of new records, and with each an update of the shared records
// "shared-0".."shared-4" to the writer's latest batch, so that writers also contend for rows.
func appendBatches(ctx context.Context, s store.Store, writer string, batches int) error {
	for b := range batches {
		recs := make([]store.RecordInput, 0, orderBatch+1)
		for i := range orderBatch {
			recs = append(recs, store.RecordInput{Data: fmt.Appendf(nil, `{"id":%q}`, orderID(writer, b, i))})
		}
		recs = append(recs, store.RecordInput{Data: fmt.Appendf(nil, `{"id":"shared-%d","by":%q,"batch":%d}`, b%5, writer, b)})
		if _, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: orderStream, Records: recs}); err != nil {
			return fmt.Errorf("writer %s, batch %d: %w", writer, b, err)
		}
	}
	return nil
}
