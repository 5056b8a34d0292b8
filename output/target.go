package output

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"path"
	"strconv"
	"strings"
)

// Names of the objects in an event type's folders.
const (
	// ManifestName is the name of the manifest in a bucket's folder. Its presence closes
	// the bucket.
	ManifestName = "_SUCCESS"
	// DataFiles matches the names of a bucket's data files (and of dead-letter files).
	DataFiles = "part-*.avro"
	// DeadLetterFolder holds an event type's dead letters, one folder per bucket.
	DeadLetterFolder = "_deadletter"
	// UnreadableFolder, under DeadLetterFolder, holds replay lines without a publish time.
	UnreadableFolder = DeadLetterFolder + "/unreadable"
	// NoticeFolder holds one notice per bucket whose close was announced on the manifest's
	// notify topic, written after Pub/Sub took the message: a job that finds a manifest
	// naming a topic but no notice announces the bucket (again).
	NoticeFolder = "_notified"
)

// Target says where one event type's buckets live and who writes them.
type Target struct {
	Root      string // the output location: a local folder or a gs:// URL
	EventType string
	Layout    Layout
	RunID     string // unique per job; it is in every file name the job writes
	// Rerun says the input is a bounded replay that may run again under the same run id
	// (with the same input): a bucket this run id closed then already holds its events,
	// which are not written twice, and one it left open is written anew, the files an
	// earlier attempt left there removed at its close. A live job leaves it false: what
	// reaches a bucket it closed itself came late (a message delivered out of order, behind
	// the watermark) and moves to the next open bucket like any late event, so that it is
	// not lost.
	Rerun bool
	// Range, when set, is the buckets a backfill was asked for: events and dead letters
	// whose bucket falls outside it are counted and dropped, and no bucket outside it is
	// written or closed.
	Range Range
}

// Base returns the event type's folder, <root>/<type>.
func (t Target) Base() string { return Join(t.Root, t.EventType) }

// Dir returns the folder of bucket start.
func (t Target) Dir(start int64) string {
	return t.Layout.Dir(t.Base(), start)
}

// DeadLetterDir returns the dead-letter folder of bucket start.
func (t Target) DeadLetterDir(start int64) string {
	return t.Layout.Dir(Join(t.Base(), DeadLetterFolder), start)
}

// ManifestPath returns the path of bucket start's manifest.
func (t Target) ManifestPath(start int64) string { return Join(t.Dir(start), ManifestName) }

// NoticePath returns where the notice of bucket start's announcement is kept.
func (t Target) NoticePath(start int64) string {
	return Join(t.Layout.Dir(Join(t.Base(), NoticeFolder), start), "notice.json")
}

// FilePath returns the path of the data file this target's run writes for a pane and shard
// of bucket start.
func (t Target) FilePath(start, pane int64, shard int) string {
	return Join(t.Dir(start), FileName(t.RunID, pane, shard))
}

// DeadLetterPath returns the path of the dead-letter file this target's run writes for a
// pane and shard of bucket start.
func (t Target) DeadLetterPath(start, pane int64, shard int) string {
	return Join(t.DeadLetterDir(start), FileName(t.RunID, pane, shard))
}

// UnreadablePath returns where a replay line without a publish time is kept: named by its
// content, so that a rerun writes the same object.
func (t Target) UnreadablePath(line string) string {
	sum := sha256.Sum256([]byte(line))
	return Join(t.Base(), UnreadableFolder+"/"+hex.EncodeToString(sum[:12])+".json")
}

// FileName returns the name of the file of a pane and shard written by run. The name is
// deterministic, so a retried bundle rewrites the same object instead of adding one, and
// the run id keeps two jobs from overwriting each other.
func FileName(run string, pane int64, shard int) string {
	return fmt.Sprintf("part-%s-%d-%d.avro", run, pane, shard)
}

// ParseFileName returns the run, pane and shard in a data file's name (as FileName writes
// it), and false for a name FileName does not write.
func ParseFileName(name string) (run string, pane int64, shard int, ok bool) {
	rest, found := strings.CutPrefix(path.Base(name), "part-")
	if rest, found = strings.CutSuffix(rest, ".avro"); !found {
		return "", 0, 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) < 3 {
		return "", 0, 0, false
	}
	p, err1 := strconv.ParseInt(parts[len(parts)-2], 10, 64)
	s, err2 := strconv.Atoi(parts[len(parts)-1])
	run = strings.Join(parts[:len(parts)-2], "-")
	if err1 != nil || err2 != nil || run == "" {
		return "", 0, 0, false
	}
	return run, p, s, true
}

// Shard returns the shard of key among n (fnv32a(key) % n): the <shard> of a file name.
func Shard(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Unreadable is the JSON object kept for a replay line without a publish time.
type Unreadable struct {
	Line   string `json:"line"`
	Reason string `json:"reason"`
	RunID  string `json:"run_id"`
}
