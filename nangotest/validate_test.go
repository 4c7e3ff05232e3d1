package nangotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/nangotest"
	"github.com/stretchr/testify/require"
)

type Address struct {
	City string `json:"city"`
	Zip  string `json:"zip,omitempty"`
}

type Base struct {
	ID string `json:"id"`
}

type Account struct {
	Base
	Name    string            `json:"name"`
	Seats   uint8             `json:"seats"`
	Score   float64           `json:"score,omitempty"`
	Active  bool              `json:"active,omitzero"`
	Tags    []string          `json:"tags"`
	Address *Address          `json:"address"`
	Extra   map[string]int    `json:"extra,omitempty"`
	Created time.Time         `json:"created,omitzero"`
	Raw     json.RawMessage   `json:"raw,omitempty"`
	Quoted  int64             `json:"quoted,string,omitempty"`
	Any     any               `json:"any,omitempty"`
	Labels  map[string]string `json:"-"`
	//lint:ignore U1000 validation must pass over an unexported field
	internal string
}

// rawSync saves the API's JSON as it comes, under a typed model: what validation is for.
func rawSync(records ...string) nango.SyncFunc {
	return func(ctx context.Context, n *nango.Nango) error {
		raw := make([]json.RawMessage, len(records))
		for i, r := range records {
			raw[i] = json.RawMessage(r)
		}
		return n.BatchSave(ctx, raw, "Account")
	}
}

func accounts(sync nango.SyncFunc) nango.Integration {
	return nango.Integration{Key: "billing", Syncs: []nango.SyncConfig{{
		Name: "accounts", Models: []nango.Model{nango.ModelOf[Account]("Account")}, Sync: sync,
	}}}
}

// untypedAccounts declares the model without a Go type: the engine takes any JSON object.
func untypedAccounts(sync nango.SyncFunc) nango.Integration {
	in := accounts(sync)
	in.Syncs[0].Models = []nango.Model{{Name: "Account"}}
	return in
}

func TestValidationAgainstTheGoType(t *testing.T) {
	t.Parallel()
	good := `{"id":"a1","name":"Acme","seats":3,"tags":null,"address":{"city":"Paris"},"created":"2025-01-01T00:00:00Z","quoted":"42","any":[1]}`
	bad := `{"id":"a2","name":null,"seats":300,"tags":["x",7],"address":{"city":"Oslo","country":"NO"},"extra":{"a":"b"},"created":"yesterday","quoted":"x","website":"acme.example"}`
	missing := `{"id":"a3","seats":1.5,"address":null}`

	// The engine refuses records that do not decode into the model's type; the harness also
	// reports what decoding lets pass: nulls, unknown members, missing fields.
	ft := newFakeTB(t)
	ft.run(func() {
		h := nangotest.New(ft, accounts(rawSync(good, `{"id":"a2","name":null,"tags":[],"address":{"city":"Oslo","country":"NO"},"seats":1,"website":"x"}`, `{"id":"a3","seats":1,"address":null}`)), nil)
		h.Run()
	})
	out := ft.all()
	for _, want := range []string{
		`run 1 saved a record that does not fit its model: Account "a2" name: is null, but string cannot be`,
		`Account "a2" address.country: is not a field of nangotest_test.Address`,
		`Account "a2" website: is not a field of nangotest_test.Account`,
		`Account "a3" name: is missing (nangotest_test.Account has no omitempty or omitzero)`,
		`Account "a3" tags: is missing`,
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, `"a1"`)
	require.NotContains(t, out, `a3" address`, "a nil pointer is null")

	// A model declared without a type takes anything; Validate checks it against one.
	ft = newFakeTB(t)
	ft.run(func() {
		h := nangotest.New(ft, untypedAccounts(rawSync(good, bad, missing)), nil)
		nangotest.Validate[Account](h.Run(), "Account", nil)
	})
	out = ft.all()
	for _, want := range []string{
		`Account "a2" name: is null, but string cannot be`,
		`Account "a2" seats: is 300, which does not fit uint8`,
		`Account "a2" tags[1]: is a number, want a string`,
		`Account "a2" address.country: is not a field of nangotest_test.Address`,
		`Account "a2" extra.a: is a string, want a number (int)`,
		`Account "a2" created: does not decode into time.Time`,
		`Account "a2" quoted: is "x", which does not hold a int64`,
		`Account "a2" website: is not a field of nangotest_test.Account`,
		`Account "a3" name: is missing (nangotest_test.Account has no omitempty or omitzero)`,
		`Account "a3" tags: is missing`,
		`Account "a3" seats: is 1.5, which does not fit uint8`,
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, `"a1"`)
	require.NotContains(t, out, `a3" address`, "a nil pointer is null")

	ft = newFakeTB(t)
	ft.run(func() {
		nangotest.New(ft, accounts(rawSync(`{"id":"a2","name":null,"tags":[],"address":null,"seats":1,"website":"x"}`)), &nangotest.Options{NoValidate: true}).Run()
	})
	require.Empty(t, ft.all())
}

func TestViolationsWithACheckFunction(t *testing.T) {
	t.Parallel()
	h := nangotest.New(t, accounts(func(ctx context.Context, n *nango.Nango) error {
		return n.BatchSave(ctx, []Account{
			{Base: Base{ID: "a1"}, Name: "Acme", Seats: 3},
			{Base: Base{ID: "a2"}, Name: "", Seats: 0},
		}, "Account")
	}), nil)
	res := h.Run()
	got := nangotest.Violations(res, "Account", func(a Account) error {
		var errs []error
		if a.Name == "" {
			errs = append(errs, &nangotest.FieldError{Field: "name", Reason: "is empty"})
		}
		if a.Seats == 0 {
			errs = append(errs, &nangotest.FieldError{Field: "seats", Reason: "must be positive"})
			errs = append(errs, errors.New("an account without seats is a trial"))
		}
		return errors.Join(errs...)
	})
	require.Equal(t, []nangotest.Violation{
		{Model: "Account", ID: "a2", Field: "name", Reason: "is empty"},
		{Model: "Account", ID: "a2", Field: "seats", Reason: "must be positive"},
		{Model: "Account", ID: "a2", Reason: "an account without seats is a trial"},
	}, got)
	require.Equal(t, `Account "a2" name: is empty`, got[0].String())
	require.Equal(t, `Account "a2": an account without seats is a trial`, got[2].String())

	ft := newFakeTB(t)
	ft.run(func() {
		res := nangotest.New(ft, accounts(rawSync(`{"id":"x","name":"n","seats":1,"tags":[],"address":null,"bogus":1}`)), &nangotest.Options{NoValidate: true}).Run()
		nangotest.Validate[Account](res, "Account", nil)
		nangotest.Validate[Account](res, "Nope", nil)
	})
	require.Contains(t, ft.all(), `Account "x" bogus: is not a field of`)
	require.Contains(t, ft.all(), `sync accounts has no model "Nope" (it has Account)`)
}
