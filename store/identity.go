package store

import "reflect"

// Identifier is implemented by stores that can name the data they hold, so that a program
// given two stores can tell whether they are one (nango.Config.DataKeyStore must not be the
// engine's store). Two handles with the same non-empty StoreID read and write the same data:
// bolt names its file, PostgreSQL its database cluster, database and schema, memory its value.
// An empty StoreID means unknown.
type Identifier interface {
	StoreID() string
}

// SameData reports whether a and b are known to hold the same data: they are the same value, or
// both are Identifiers with the same non-empty StoreID. False means only that they are not known
// to be the same.
func SameData(a, b any) bool {
	if a == nil || b == nil {
		return false
	}
	if t := reflect.TypeOf(a); t == reflect.TypeOf(b) && t.Comparable() && a == b {
		return true
	}
	ia, ok1 := a.(Identifier)
	ib, ok2 := b.(Identifier)
	if !ok1 || !ok2 {
		return false
	}
	id := ia.StoreID()
	return id != "" && id == ib.StoreID()
}
