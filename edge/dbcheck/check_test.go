package dbcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestCleanStore(t *testing.T) {
	s := makeStore(t)
	rep, err := Check(s.path, 0)
	require.NoError(t, err)
	require.Empty(t, rep.Damage)
	require.True(t, rep.Complete)
	require.Equal(t, s.ps, rep.PageSize)
	require.Equal(t, s.pages, rep.Pages)
	require.Equal(t, s.newer, rep.InUse)
	require.Equal(t, s.txid, [2]uint64{rep.Meta[0].TxID, rep.Meta[1].TxID})
	require.Equal(t, 1+2+6, rep.Buckets, "root, outbox, pool and an inline bucket per order")
	require.Positive(t, rep.Free, "the deleted events freed pages")
	require.Equal(t, rep.Pages, 2+rep.Walked+uint64(rep.Free), "every page is a meta page, walked (tree and freelist) or free")
	require.Greater(t, rep.Walked, uint64(len(s.leaves)+len(s.branches)), "every leaf and branch page, their overflow and the freelist")

	var logs bytes.Buffer
	db, err := Open(s.path, Options{}, logTo(&logs))
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		require.NotNil(t, tx.Bucket([]byte("outbox")).Get([]byte{0, 0, 0, 0, 0, 0, 0x0b, 0xb8}), "event 3000 is there")
		return nil
	}))
	require.NoError(t, db.Close())
	require.Contains(t, logs.String(), "store checked")
	require.Contains(t, logs.String(), "bbolt_check=passed")
}

// TestDamageRefused damages a real store in each way seen in the field
// and checks that it is refused with the damage named, that nothing
// panics, and that the refusal changes nothing in the file.
func TestDamageRefused(t *testing.T) {
	flip := func(tb testing.TB, s store, off int64) {
		b := readRange(tb, s.path, off, 1)
		writeAt(tb, s.path, off, []byte{b[0] ^ 0xff})
	}
	metaRoot := func(s store, page int) int64 { return int64(page*s.ps) + pageHeaderSize + 16 }
	tests := []struct {
		name   string
		damage func(testing.TB, store)
		want   func(store) []string
	}{
		{"empty file", func(tb testing.TB, s store) { require.NoError(tb, os.Truncate(s.path, 0)) },
			func(store) []string { return []string{"the file is empty (0 bytes)", "not a store this agent made"} }},
		{"truncated to 100 bytes", func(tb testing.TB, s store) { require.NoError(tb, os.Truncate(s.path, 100)) },
			func(store) []string { return []string{"the file is 100 bytes, less than one page"} }},
		{"truncated at one page", func(tb testing.TB, s store) { require.NoError(tb, os.Truncate(s.path, int64(s.ps))) },
			func(s store) []string {
				return []string{fmt.Sprintf("the file is %d bytes, less than its two meta pages", s.ps)}
			}},
		{"truncated mid-page", func(tb testing.TB, s store) { require.NoError(tb, os.Truncate(s.path, int64(5*s.ps+1234))) },
			func(s store) []string {
				return []string{"not a whole number of", "1234 bytes over", "the file ends after page 4", fmt.Sprintf("pages up to %d are in use", s.pages-1)}
			}},
		{"truncated to half its pages", func(tb testing.TB, s store) { require.NoError(tb, os.Truncate(s.path, int64(s.pages/2)*int64(s.ps))) },
			func(s store) []string {
				return []string{fmt.Sprintf("the file ends after page %d", s.pages/2-1), "it was cut short"}
			}},
		{"newest meta page damaged", func(tb testing.TB, s store) { flip(tb, s, metaRoot(s, s.newer)) },
			func(s store) []string {
				return []string{fmt.Sprintf("meta page %d: checksum mismatch", s.newer),
					fmt.Sprintf("by its transaction number (%d) it was the newer one", s.txid[s.newer]),
					fmt.Sprintf("fall back to meta page %d (transaction %d), an older state", 1-s.newer, s.txid[1-s.newer])}
			}},
		{"older meta page damaged", func(tb testing.TB, s store) { flip(tb, s, metaRoot(s, 1-s.newer)) },
			func(s store) []string {
				return []string{fmt.Sprintf("meta page %d: checksum mismatch", 1-s.newer), "it was the older one"}
			}},
		{"meta page 0 zeroed", func(tb testing.TB, s store) { s.zeroPage(tb, 0) },
			func(store) []string { return []string{"meta page 0: all zeros"} }},
		{"both meta pages damaged", func(tb testing.TB, s store) {
			flip(tb, s, metaRoot(s, 0))
			flip(tb, s, metaRoot(s, 1))
		}, func(store) []string {
			return []string{"meta page 0: checksum mismatch", "both meta pages are damaged"}
		}},
		{"leaf page zeroed", func(tb testing.TB, s store) { s.zeroPage(tb, s.leaves[len(s.leaves)/2]) },
			func(s store) []string {
				return []string{fmt.Sprintf("page %d: in bucket", s.leaves[len(s.leaves)/2]), "all zeros (the page was wiped)"}
			}},
		{"branch page zeroed", func(tb testing.TB, s store) { s.zeroPage(tb, s.outbox) },
			func(s store) []string {
				return []string{fmt.Sprintf("page %d: in bucket \"outbox\", referenced from page", s.outbox), "all zeros"}
			}},
		{"freelist zeroed", func(tb testing.TB, s store) { s.zeroPage(tb, s.freelist) },
			func(s store) []string { return []string{fmt.Sprintf("page %d: the freelist: all zeros", s.freelist)} }},
		{"random page damage", func(tb testing.TB, s store) {
			rng := rand.New(rand.NewPCG(15, 3))
			b := make([]byte, s.ps)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			writeAt(tb, s.path, int64(s.leaves[len(s.leaves)/3])*int64(s.ps), b)
		}, func(s store) []string { return []string{fmt.Sprintf("page %d: in bucket", s.leaves[len(s.leaves)/3])} }},
		{"element past the page end", func(tb testing.TB, s store) {
			writeAt(tb, s.path, int64(s.leaves[1])*int64(s.ps)+pageHeaderSize+8, []byte{0xff, 0xff, 0xff, 0})
		}, func(s store) []string {
			return []string{fmt.Sprintf("page %d:", s.leaves[1]), "element 0", "runs past the end of the page"}
		}},
		{"keys out of order on a page", func(tb testing.TB, s store) {
			// The outbox's keys are 8-byte seqs: a zero key after the first.
			e := int64(s.leaves[1])*int64(s.ps) + pageHeaderSize + elemSize
			pos := ord.Uint32(readRange(tb, s.path, e+4, 4))
			writeAt(tb, s.path, e+int64(pos), make([]byte, 8))
		}, func(s store) []string { return []string{fmt.Sprintf("page %d:", s.leaves[1]), "keys out of order"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := makeStore(t)
			tt.damage(t, s)
			want := tt.want(s)
			rep, err := Check(s.path, 0)
			require.NoError(t, err)
			require.True(t, rep.Damaged(), "the check finds the damage")
			report := fmt.Sprint(rep.Damage)
			for _, w := range want {
				require.Contains(t, report, w)
			}

			before := fileSum(t, s.path)
			var logs bytes.Buffer
			db, err := Open(s.path, Options{}, logTo(&logs))
			require.Nil(t, db)
			var dmg *DamagedError
			require.ErrorAs(t, err, &dmg, "refused as damaged: %v", err)
			require.False(t, errors.Is(err, ErrLocked))
			msg := err.Error()
			require.Contains(t, msg, s.path+" is damaged; the agent will not start on it")
			for _, w := range want {
				require.Contains(t, msg, w)
			}
			require.Contains(t, msg, "Move the whole data folder aside")
			require.NotContains(t, msg, "another agent")
			require.Equal(t, before, fileSum(t, s.path), "the refusal leaves the file as it was")
		})
	}
}

// TestBoltCheckRuns damages what only bbolt's own check sees (a key on a
// leaf beyond its parent's range: each page is in order on its own).
func TestBoltCheckRuns(t *testing.T) {
	s := makeStore(t)
	// Down the outbox's tree by first children to a leaf: its last key
	// must stay below its parent's second key.
	id := s.outbox
	for {
		p := readRange(t, s.path, int64(id)*int64(s.ps), s.ps)
		if p[8] == flagLeaf {
			break
		}
		require.Equal(t, byte(flagBranch), p[8])
		require.GreaterOrEqual(t, ord.Uint16(p[10:]), uint16(2))
		id = ord.Uint64(p[pageHeaderSize+8:])
	}
	first := id
	leaf := int64(first) * int64(s.ps)
	n := int64(ord.Uint16(readRange(t, s.path, leaf+10, 2)))
	last := leaf + pageHeaderSize + (n-1)*elemSize
	pos := int64(ord.Uint32(readRange(t, s.path, last+4, 4)))
	require.EqualValues(t, 8, ord.Uint32(readRange(t, s.path, last+8, 4)), "an outbox key: 8 bytes")
	writeAt(t, s.path, last+pos, bytes.Repeat([]byte{0xff}, 8))

	rep, err := Check(s.path, 0)
	require.NoError(t, err)
	require.Empty(t, rep.Damage, "page by page it is sound")
	_, err = Open(s.path, Options{}, logTo(new(bytes.Buffer)))
	var dmg *DamagedError
	require.ErrorAs(t, err, &dmg)
	require.Contains(t, err.Error(), "bbolt's consistency check: ")
	require.Contains(t, err.Error(), fmt.Sprintf("leaf page(%d)", first))
}

// TestOpenGuardsFaults opens a truncated file with bbolt directly (no
// check first): bbolt maps pages past the end of the file, and touching
// them faults. The guard turns that into a refusal.
func TestOpenGuardsFaults(t *testing.T) {
	s := makeStore(t)
	require.NoError(t, os.Truncate(s.path, int64(s.freelist)*int64(s.ps)))
	db, err := openBolt(s.path, &bolt.Options{Timeout: time.Second}, Report{Path: s.path})
	require.Nil(t, db)
	var dmg *DamagedError
	require.ErrorAs(t, err, &dmg)
	require.Contains(t, err.Error(), "bbolt faulted reading the file's pages", "a memory fault, caught")
}

func TestOpenNewStore(t *testing.T) {
	path := t.TempDir() + "/" + FileName
	var logs bytes.Buffer
	db, err := Open(path, Options{}, logTo(&logs))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "creating a new, empty one")
	rep, err := Check(path, 0)
	require.NoError(t, err)
	require.Empty(t, rep.Damage, "bbolt's new store passes")
	require.True(t, rep.Complete)
}

func TestBudget(t *testing.T) {
	s := makeStore(t)
	rep, err := Check(s.path, 3)
	require.NoError(t, err)
	require.Empty(t, rep.Damage)
	require.False(t, rep.Complete)
	require.Less(t, rep.Walked, rep.Pages)

	var logs bytes.Buffer
	db, err := Open(s.path, Options{Budget: 3}, logTo(&logs))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.Contains(t, logs.String(), "stopped at its page budget")
	require.Contains(t, logs.String(), `bbolt_check="skipped: the file is beyond the start budget"`)
}

// envLockChild makes the test binary hold the store in that file open
// with bbolt (as a running agent does) until its stdin closes.
const envLockChild = "DBCHECK_LOCK_CHILD"

func TestLockChild(t *testing.T) {
	path := os.Getenv(envLockChild)
	if path == "" {
		t.Skip("helper process for TestLockedByAnotherProcess")
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	fmt.Println("LOCKED")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	require.NoError(t, db.Close())
}

func TestLockedByAnotherProcess(t *testing.T) {
	s := makeStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envLockChild+"="+s.path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "LOCKED") {
	}
	require.NoError(t, sc.Err())

	db, err := Open(s.path, Options{LockTimeout: 200 * time.Millisecond}, logTo(new(bytes.Buffer)))
	require.Nil(t, db)
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), "is another agent using this data folder?")
	var dmg *DamagedError
	require.False(t, errors.As(err, &dmg), "a locked file is not called damaged")

	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, Command([]string{"--data", dirOf(s.path)}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "locked by another process")
	require.Contains(t, stderr.String(), "stop the agent first")

	require.NoError(t, stdin.Close()) // the other agent stops
	require.NoError(t, cmd.Wait())
	db, err = Open(s.path, Options{}, logTo(new(bytes.Buffer)))
	require.NoError(t, err, "the lock was the only reason")
	require.NoError(t, db.Close())
}

func dirOf(path string) string { return path[:strings.LastIndex(path, "/")] }
