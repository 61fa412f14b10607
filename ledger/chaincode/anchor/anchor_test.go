package anchor

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// --- RFC 9162 reference tree hashing and proof generation (test side only) ---

func leafHash(data []byte) []byte {
	h := sha256.Sum256(append([]byte{0x00}, data...))
	return h[:]
}

func largestPow2Below(n uint64) uint64 {
	k := uint64(1)
	for k<<1 < n {
		k <<= 1
	}
	return k
}

func mth(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leafHash(leaves[0])
	}
	k := largestPow2Below(uint64(len(leaves)))
	return hashChildren(mth(leaves[:k]), mth(leaves[k:]))
}

func subproof(m uint64, d [][]byte, b bool) [][]byte {
	n := uint64(len(d))
	if m == n {
		if b {
			return nil
		}
		return [][]byte{mth(d)}
	}
	k := largestPow2Below(n)
	if m <= k {
		return append(subproof(m, d[:k], b), mth(d[k:]))
	}
	return append(subproof(m-k, d[k:], false), mth(d[:k]))
}

func leaves(n int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s-entry-%d", tag, i))
	}
	return out
}

func TestConsistencyAllSizes(t *testing.T) {
	d := leaves(40, "x")
	for n := 1; n <= 40; n++ {
		for m := 1; m <= n; m++ {
			proof := subproof(uint64(m), d[:n], true)
			r1, r2 := mth(d[:m]), mth(d[:n])
			if err := VerifyConsistency(uint64(m), uint64(n), r1, r2, proof); err != nil {
				t.Fatalf("m=%d n=%d: valid proof rejected: %v", m, n, err)
			}
			if m < n {
				bad := append([][]byte(nil), proof...)
				bad[0] = leafHash([]byte("tampered"))
				if VerifyConsistency(uint64(m), uint64(n), r1, r2, bad) == nil {
					t.Fatalf("m=%d n=%d: tampered proof accepted", m, n)
				}
				if VerifyConsistency(uint64(m), uint64(n), r1, mth(leaves(n, "y")), proof) == nil {
					t.Fatalf("m=%d n=%d: wrong new root accepted", m, n)
				}
				if len(proof) > 0 && VerifyConsistency(uint64(m), uint64(n), r1, r2, proof[:len(proof)-1]) == nil {
					t.Fatalf("m=%d n=%d: truncated proof accepted", m, n)
				}
			}
		}
	}
}

// --- signed notes ---

type testLog struct {
	origin string
	priv   ed25519.PrivateKey
	vkey   string
}

func newTestLog(origin string, seed byte) testLog {
	priv := ed25519.NewKeyFromSeed(bytesOf(seed, 32))
	pub := priv.Public().(ed25519.PublicKey)
	id := KeyID(origin, pub)
	vkey := fmt.Sprintf("%s+%08x+%s", origin, id, base64.StdEncoding.EncodeToString(append([]byte{1}, pub...)))
	return testLog{origin, priv, vkey}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func (l testLog) sign(size int, root []byte) []byte {
	body := fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, base64.StdEncoding.EncodeToString(root))
	pub := l.priv.Public().(ed25519.PublicKey)
	id := KeyID(l.origin, pub)
	sig := append([]byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, ed25519.Sign(l.priv, []byte(body))...)
	return []byte(body + "\n\u2014 " + l.origin + " " + base64.StdEncoding.EncodeToString(sig) + "\n")
}

type mapStore map[string][]byte

func (m mapStore) Get(k string) ([]byte, error) { return m[k], nil }
func (m mapStore) Put(k string, v []byte) error { m[k] = v; return nil }

func setup(t *testing.T) (mapStore, testLog, [][]byte) {
	t.Helper()
	s := mapStore{}
	l := newTestLog("example.org/log", 7)
	if err := RegisterLog(s, l.origin, l.vkey); err != nil {
		t.Fatalf("register: %v", err)
	}
	return s, l, leaves(20, "log")
}

func mustContain(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected refusal containing %q, got success", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %q does not contain %q", err, want)
	}
}

func TestHappyPath(t *testing.T) {
	s, l, d := setup(t)
	if _, err := AnchorCheckpoint(s, l.sign(3, mth(d[:3])), nil, "tx1"); err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}
	prev := 3
	for _, n := range []int{4, 9, 20} {
		proof := subproof(uint64(prev), d[:n], true)
		rec, err := AnchorCheckpoint(s, l.sign(n, mth(d[:n])), proof, fmt.Sprintf("tx%d", n))
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if rec.Size != uint64(n) {
			t.Fatalf("record size %d, want %d", rec.Size, n)
		}
		prev = n
	}
	latest, err := Latest(s, l.origin)
	if err != nil || latest.Size != 20 || latest.TxID != "tx20" {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	old, err := BySize(s, l.origin, 9)
	if err != nil || old.Root != base64.StdEncoding.EncodeToString(mth(d[:9])) {
		t.Fatalf("by size 9 = %+v, %v", old, err)
	}
	_, err = BySize(s, l.origin, 5)
	mustContain(t, err, "no anchored checkpoint of size 5")
}

func TestForkedLogRefused(t *testing.T) {
	s, l, d := setup(t)
	if _, err := AnchorCheckpoint(s, l.sign(5, mth(d[:5])), nil, "tx1"); err != nil {
		t.Fatal(err)
	}
	other := leaves(8, "fork")
	// Same size, other root.
	_, err := AnchorCheckpoint(s, l.sign(5, mth(other[:5])), nil, "tx2")
	mustContain(t, err, "fork detected")
	// Larger size on a forked history: its own proof cannot connect to the anchored root.
	_, err = AnchorCheckpoint(s, l.sign(8, mth(other)), subproof(5, other, true), "tx3")
	mustContain(t, err, "consistency proof from size 5 to 8 rejected")
}

func TestShrinkingLogRefused(t *testing.T) {
	s, l, d := setup(t)
	if _, err := AnchorCheckpoint(s, l.sign(10, mth(d[:10])), nil, "tx1"); err != nil {
		t.Fatal(err)
	}
	_, err := AnchorCheckpoint(s, l.sign(6, mth(d[:6])), nil, "tx2")
	mustContain(t, err, "checkpoint size 6 is not larger than the anchored size 10")
	_, err = AnchorCheckpoint(s, l.sign(10, mth(d[:10])), nil, "tx3")
	mustContain(t, err, "checkpoint size 10 is not larger than the anchored size 10")
}

func TestBadSignatureRefused(t *testing.T) {
	s, l, d := setup(t)
	impostor := newTestLog(l.origin, 9) // same name, other key
	_, err := AnchorCheckpoint(s, impostor.sign(3, mth(d[:3])), nil, "tx1")
	mustContain(t, err, "no signature by the registered key")
	note := l.sign(3, mth(d[:3]))
	tampered := []byte(strings.Replace(string(note), "\n3\n", "\n4\n", 1))
	_, err = AnchorCheckpoint(s, tampered, nil, "tx2")
	mustContain(t, err, "signature by example.org/log does not verify")
	stranger := newTestLog("other.example/log", 3)
	_, err = AnchorCheckpoint(s, stranger.sign(3, mth(d[:3])), nil, "tx3")
	mustContain(t, err, "is not registered")
}

func TestBadProofRefused(t *testing.T) {
	s, l, d := setup(t)
	if _, err := AnchorCheckpoint(s, l.sign(4, mth(d[:4])), nil, "tx1"); err != nil {
		t.Fatal(err)
	}
	proof := subproof(4, d[:11], true)
	proof[len(proof)-1] = leafHash([]byte("x"))
	_, err := AnchorCheckpoint(s, l.sign(11, mth(d[:11])), proof, "tx2")
	mustContain(t, err, "consistency proof from size 4 to 11 rejected")
	_, err = AnchorCheckpoint(s, l.sign(11, mth(d[:11])), nil, "tx3")
	mustContain(t, err, "consistency proof is empty")
}

func TestVerifierKeyWithPlusInBase64(t *testing.T) {
	for seed := byte(0); seed < 64; seed++ {
		l := newTestLog("example.org/log", seed)
		if _, err := ParseVerifier(l.vkey); err != nil {
			t.Fatalf("seed %d key %s: %v", seed, l.vkey, err)
		}
	}
}

func TestRegisterRules(t *testing.T) {
	s, l, _ := setup(t)
	if err := RegisterLog(s, l.origin, l.vkey); err != nil {
		t.Fatalf("re-register same key: %v", err)
	}
	mustContain(t, RegisterLog(s, l.origin, newTestLog(l.origin, 2).vkey), "already registered")
	bad := l.vkey[:len(l.origin)+1] + "00000000" + l.vkey[len(l.origin)+9:]
	mustContain(t, RegisterLog(mapStore{}, l.origin, bad), "key id does not match")
}
