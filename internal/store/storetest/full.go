package storetest

import (
	"fmt"
	"reflect"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// FullRollout returns a rollout with every field, however deeply nested,
// set to a value of its own that is not the zero value: a map or a slice
// has one element, a pointer points to a full value. A store that drops a
// field gives back something else. Times are in UTC.
func FullRollout() engine.Rollout {
	var r engine.Rollout
	Fill(&r)
	return r
}

// FullEvent is FullRollout for an event.
func FullEvent() engine.Event {
	var ev engine.Event
	Fill(&ev)
	return ev
}

// Fill sets every field of *ptr, recursively, to a deterministic
// non-zero value: the n-th scalar filled gets n (strings "s<n>", times n
// seconds and n nanoseconds after T0). It panics on a kind it does not
// know, so that a field of a new kind cannot be left zero unnoticed.
func Fill(ptr any) {
	n := 0
	fill(reflect.ValueOf(ptr).Elem(), &n, nil)
}

// fillExcept is Fill that leaves the named fields (TypeName.Field) zero
// and uncounted, as if the type did not have them: what Fill made of the
// type before those fields were added.
func fillExcept(ptr any, skip map[string]bool) {
	n := 0
	fill(reflect.ValueOf(ptr).Elem(), &n, skip)
}

var timeType = reflect.TypeFor[time.Time]()

func fill(v reflect.Value, n *int, skip map[string]bool) {
	*n++
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(T0.UTC().Add(time.Duration(*n)*time.Second + time.Duration(*n))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && !skip[v.Type().Name()+"."+f.Name] {
				fill(v.Field(i), n, skip)
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n, skip)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), n, skip)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		key, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(key, n, skip)
		fill(val, n, skip)
		v.SetMapIndex(key, val)
	default:
		panic(fmt.Sprintf("storetest.Fill: a field of kind %s (%s)", v.Kind(), v.Type()))
	}
}
