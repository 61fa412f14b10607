package anchor

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// algEd25519 is the C2SP signed-note signature type byte for Ed25519.
const algEd25519 = 0x01

// Verifier is a parsed C2SP verifier key "name+hexid+base64(0x01||pubkey)".
type Verifier struct {
	Name   string
	KeyID  uint32
	Public ed25519.PublicKey
}

// KeyID computes the C2SP key id: the first 4 bytes of SHA-256(name || "\n" || 0x01 || pubkey).
func KeyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algEd25519})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// ParseVerifier parses and checks a verifier key string.
func ParseVerifier(vkey string) (Verifier, error) {
	// The base64 key may itself contain "+", so split off only the name and the key id.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return Verifier{}, errors.New("verifier key must have the form name+hexid+base64key")
	}
	name, hexID, b64 := parts[0], parts[1], parts[2]
	if name == "" || strings.ContainsAny(name, " \n\t") {
		return Verifier{}, errors.New("verifier key name must be non-empty and contain no spaces")
	}
	idBytes, err := hex.DecodeString(hexID)
	if err != nil || len(idBytes) != 4 {
		return Verifier{}, errors.New("verifier key id must be 8 hexadecimal digits")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algEd25519 {
		return Verifier{}, errors.New("verifier key must be base64(0x01 || 32-byte Ed25519 public key)")
	}
	pub := ed25519.PublicKey(raw[1:])
	id := binary.BigEndian.Uint32(idBytes)
	if KeyID(name, pub) != id {
		return Verifier{}, errors.New("verifier key id does not match its name and public key")
	}
	return Verifier{Name: name, KeyID: id, Public: pub}, nil
}

// Checkpoint is the parsed body of a C2SP checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
}

// OpenCheckpoint verifies the signed note's signature by v and parses its checkpoint body.
func OpenCheckpoint(note []byte, v Verifier) (Checkpoint, error) {
	sep := bytes.LastIndex(note, []byte("\n\n"))
	if sep < 0 || len(note) == 0 || note[len(note)-1] != '\n' {
		return Checkpoint{}, errors.New("note is not a signed note: missing blank line or final newline")
	}
	body, sigs := note[:sep+1], note[sep+2:]
	found := false
	for _, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "\u2014 ")
		if !ok {
			return Checkpoint{}, errors.New("note signature line does not start with an em dash")
		}
		name, b64, ok := strings.Cut(rest, " ")
		if !ok {
			return Checkpoint{}, errors.New("note signature line has no signature")
		}
		if name != v.Name {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) < 4 {
			return Checkpoint{}, errors.New("note signature is not valid base64")
		}
		if binary.BigEndian.Uint32(raw[:4]) != v.KeyID {
			continue
		}
		if len(raw) != 4+ed25519.SignatureSize || !ed25519.Verify(v.Public, body, raw[4:]) {
			return Checkpoint{}, fmt.Errorf("checkpoint signature by %s does not verify", v.Name)
		}
		found = true
	}
	if !found {
		return Checkpoint{}, fmt.Errorf("checkpoint has no signature by the registered key %s", v.Name)
	}
	return ParseCheckpointBody(body)
}

// ParseCheckpointBody parses "<origin>\n<size>\n<base64 root>\n[extension lines]".
func ParseCheckpointBody(body []byte) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, errors.New("checkpoint body needs origin, size and root lines")
	}
	if lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint origin is empty")
	}
	sizeText := lines[1]
	if sizeText == "" || (len(sizeText) > 1 && sizeText[0] == '0') {
		return Checkpoint{}, errors.New("checkpoint size must be a decimal without leading zeros")
	}
	size, err := strconv.ParseUint(sizeText, 10, 64)
	if err != nil {
		return Checkpoint{}, errors.New("checkpoint size must be a decimal without leading zeros")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != HashSize {
		return Checkpoint{}, errors.New("checkpoint root must be a base64 32-byte hash")
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}
