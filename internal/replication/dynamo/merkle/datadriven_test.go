package merkle

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the transcripts in testdata/. Commands:
//
//	new NAME... buckets=B        empty trees
//	set NAME key=digest...       insert or replace keys' digests
//	remove NAME key...           remove keys
//	show NAME                    contents by bucket, and the level sizes
//	diff A B                     DiffBuckets of the two, each differing
//	                             bucket with the keys that differ in it
//
// Bucket numbers are FNV-1a of the key, so transcripts show them rather
// than choose them.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		trees, content := map[string]*Tree{}, map[string]contents{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			name := d.CmdArgs[0].Key
			tr, c := trees[name], content[name]
			switch d.Cmd {
			case "new":
				var buckets int
				d.ScanArgs(t, "buckets", &buckets)
				for _, a := range d.CmdArgs[:len(d.CmdArgs)-1] {
					trees[a.Key], content[a.Key] = New(buckets), contents{}
				}
				return "ok"
			case "set":
				for _, a := range d.CmdArgs[1:] {
					dig, err := strconv.ParseUint(a.Vals[0], 10, 64)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					old, had := c[a.Key]
					tr.Set([]byte(a.Key), old, dig, had)
					c[a.Key] = dig
				}
				return show(tr, c)
			case "remove":
				for _, a := range d.CmdArgs[1:] {
					tr.Remove([]byte(a.Key), c[a.Key])
					delete(c, a.Key)
				}
				return show(tr, c)
			case "show":
				return show(tr, c)
			case "diff":
				other := d.CmdArgs[1].Key
				return diff(trees[name], trees[other], c, content[other])
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

func show(tr *Tree, c contents) string {
	byBucket := map[int][]string{}
	for _, k := range slices.Sorted(maps.Keys(c)) {
		b := BucketOf([]byte(k), len(tr.Buckets()))
		byBucket[b] = append(byBucket[b], fmt.Sprintf("%s=%d", k, c[k]))
	}
	var sb strings.Builder
	for _, b := range slices.Sorted(maps.Keys(byBucket)) {
		fmt.Fprintf(&sb, "bucket %d: %s\n", b, strings.Join(byBucket[b], " "))
	}
	sizes := make([]string, tr.Levels())
	for i := range sizes {
		sizes[i] = strconv.Itoa(len(tr.Level(i)))
	}
	fmt.Fprintf(&sb, "levels: %s\n", strings.Join(sizes, " "))
	return sb.String()
}

func diff(a, b *Tree, ca, cb contents) string {
	buckets := DiffBuckets(a.Buckets(), b.Buckets())
	if len(buckets) == 0 {
		return fmt.Sprintf("no bucket differs; roots equal: %t\n", a.Root() == b.Root())
	}
	union := maps.Clone(ca)
	maps.Copy(union, cb)
	var sb strings.Builder
	for _, bk := range buckets {
		var keys []string
		for _, k := range slices.Sorted(maps.Keys(union)) {
			da, inA := ca[k]
			db, inB := cb[k]
			if BucketOf([]byte(k), len(a.Buckets())) != bk || (inA == inB && da == db) {
				continue
			}
			keys = append(keys, fmt.Sprintf("%s (%s, %s)", k, digestOf(da, inA), digestOf(db, inB)))
		}
		if len(keys) == 0 {
			keys = []string{"NO DIFFERING KEY"}
		}
		fmt.Fprintf(&sb, "bucket %d: %s\n", bk, strings.Join(keys, ", "))
	}
	return sb.String()
}

func digestOf(d uint64, ok bool) string {
	if !ok {
		return "absent"
	}
	return strconv.FormatUint(d, 10)
}
