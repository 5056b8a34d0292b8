package objstore

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
)

// Every operation behaves the same on local disk and on Cloud Storage (fake-gcs-server).
func TestStore(t *testing.T) {
	roots := map[string]func(t *testing.T) string{
		"local": func(t *testing.T) string { return t.TempDir() },
		"gcs": func(t *testing.T) string {
			gcsfake.Start(t, "b")
			return "gs://b/raw"
		},
	}
	for name, root := range roots {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := root(t)
			st, err := Open(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			objects := map[string]string{
				"x/2026/11/20/10/part-a-0-0.avro": "a",
				"x/2026/11/20/10/part-a-0-1.avro": "bb",
				"x/2026/11/20/10/_SUCCESS":        "{}",
				"x/2026/11/20/10/sub/part-c.avro": "c",
				"y/part-d.avro":                   "d",
			}
			for rel, body := range objects {
				if err := st.Write(ctx, r+"/"+rel, []byte(body)); err != nil {
					t.Fatal(err)
				}
			}
			rel := func(paths []string) []string {
				out := make([]string, len(paths))
				for i, p := range paths {
					out[i] = strings.TrimPrefix(p, r+"/")
				}
				slices.Sort(out)
				return out
			}
			t.Run("exists", func(t *testing.T) {
				for p, want := range map[string]bool{"x/2026/11/20/10/_SUCCESS": true, "x/2026/11/20/11/_SUCCESS": false, "x/2026/11/20/10": name == "local"} {
					if got, err := st.Exists(ctx, r+"/"+p); err != nil || got != want {
						t.Errorf("Exists(%s) = %v, %v; want %v", p, got, err, want)
					}
				}
			})
			t.Run("read", func(t *testing.T) {
				got, err := st.Read(ctx, r+"/x/2026/11/20/10/part-a-0-1.avro")
				if err != nil || string(got) != "bb" {
					t.Errorf("Read = %q, %v; want bb", got, err)
				}
				if _, err := st.Read(ctx, r+"/nothing"); err == nil {
					t.Error("Read of a missing object: no error")
				}
				rc, size, err := st.OpenReadSize(ctx, r+"/x/2026/11/20/10/part-a-0-1.avro")
				if err != nil || size != 2 {
					t.Errorf("OpenReadSize: size %d, %v; want 2", size, err)
				}
				if rc != nil {
					rc.Close()
				}
			})
			t.Run("overwrite", func(t *testing.T) {
				p := r + "/y/part-d.avro"
				if err := st.Write(ctx, p, []byte("dd")); err != nil {
					t.Fatal(err)
				}
				if got, err := st.Read(ctx, p); err != nil || string(got) != "dd" {
					t.Errorf("Read after rewrite = %q, %v; want dd", got, err)
				}
			})
			t.Run("list does not cross folders", func(t *testing.T) {
				got, err := st.List(ctx, r+"/x/2026/11/20/10/part-*.avro")
				want := []string{"x/2026/11/20/10/part-a-0-0.avro", "x/2026/11/20/10/part-a-0-1.avro"}
				if err != nil || !slices.Equal(rel(got), want) {
					t.Errorf("List = %v, %v; want %v", rel(got), err, want)
				}
				if got, err := st.List(ctx, r+"/x/2026/11/20/11/part-*.avro"); err != nil || len(got) != 0 {
					t.Errorf("List of an empty folder = %v, %v; want nothing", got, err)
				}
			})
			t.Run("remove", func(t *testing.T) {
				p := r + "/y/gone.avro"
				if err := st.Write(ctx, p, []byte("g")); err != nil {
					t.Fatal(err)
				}
				for i := range 2 { // the second time it is gone already: no error
					if err := st.Remove(ctx, p); err != nil {
						t.Fatalf("Remove #%d = %v", i+1, err)
					}
				}
				if ok, err := st.Exists(ctx, p); err != nil || ok {
					t.Errorf("Exists after Remove = %v, %v; want false", ok, err)
				}
			})
			t.Run("walk", func(t *testing.T) {
				got, err := st.Walk(ctx, r+"/x/")
				want := []string{"x/2026/11/20/10/_SUCCESS", "x/2026/11/20/10/part-a-0-0.avro", "x/2026/11/20/10/part-a-0-1.avro", "x/2026/11/20/10/sub/part-c.avro"}
				if err != nil || !slices.Equal(rel(got), want) {
					t.Errorf("Walk = %v, %v; want %v", rel(got), err, want)
				}
				if got, err := st.Walk(ctx, r+"/none"); err != nil || len(got) != 0 {
					t.Errorf("Walk of a missing folder = %v, %v; want nothing", got, err)
				}
			})
		})
	}
	if _, err := Open(context.Background(), "s3://b/x"); err == nil {
		t.Error("Open(s3://...): no error")
	}
}
