package inprocess

import "testing"

func TestRegistry(t *testing.T) {
	r := NewRegistry[*int]("n")
	one, two := 1, 2
	k1, k2 := r.Add(&one), r.Add(&two)
	if k1 == k2 || k1 != "n-1" {
		t.Fatalf("keys %q and %q, want distinct keys starting n-1", k1, k2)
	}
	if v, ok := r.Get(k2); !ok || *v != 2 {
		t.Errorf("Get(%q) = %v, %v", k2, v, ok)
	}
	r.Remove(k2)
	if v, ok := r.Get(k2); ok || v != nil {
		t.Errorf("after Remove, Get(%q) = %v, %v", k2, v, ok)
	}
	if _, ok := r.Get(""); ok {
		t.Error("the empty key finds something")
	}
}

func TestRegister(t *testing.T) {
	type obj struct {
		Entry
		n int
	}
	r := NewRegistry[*obj]("o")
	o := &obj{n: 3}
	r.Register(o, &o.Entry)
	if got := r.Find(o.Key()); got != o {
		t.Fatalf("Find(%q) = %v, want the registered object", o.Key(), got)
	}
	o.Release()
	if got := r.Find(o.Key()); got != nil {
		t.Errorf("after Release, Find(%q) = %v", o.Key(), got)
	}
}
