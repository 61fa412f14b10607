// An independent reading of C2SP tlog-cosignature (Ed25519 cosignature/v1), with the
// transparency-dev/formats implementation, for the hub's tests.
//
//	cosig verify VKEY NOTEFILE        prints the cosignature's time, or fails
//	cosig sign SKEY NOTEFILE          prints the note with one more cosignature
//
// VKEY / SKEY are signed-note key strings of the witness (type 0x04 / 0x01 keys).
package main

import (
	"fmt"
	"os"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: cosig verify|sign KEY NOTEFILE")
	}
	msg, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("read: %v", err)
	}
	switch os.Args[1] {
	case "verify":
		v, err := fnote.NewVerifierForCosignatureV1(os.Args[2])
		if err != nil {
			fail("verifier: %v", err)
		}
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			fail("open: %v", err)
		}
		t, err := fnote.CoSigV1Timestamp(n.Sigs[0])
		if err != nil {
			fail("timestamp: %v", err)
		}
		fmt.Println(t.Unix())
	case "sign":
		s, err := fnote.NewSignerForCosignatureV1(os.Args[2])
		if err != nil {
			fail("signer: %v", err)
		}
		n, err := note.Open(msg, note.VerifierList())
		if n == nil {
			// unknown signers are expected: keep the text and the signatures as they are
			unverified, ok := err.(*note.UnverifiedNoteError)
			if !ok {
				fail("open: %v", err)
			}
			n = unverified.Note
		}
		out, err := note.Sign(n, s)
		if err != nil {
			fail("sign: %v", err)
		}
		os.Stdout.Write(out)
	default:
		fail("unknown command %q", os.Args[1])
	}
}
