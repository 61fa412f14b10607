//go:build fabric

// Command loganchor is the log-anchoring chaincode, run as a service (CCaaS): the peer dials
// CHAINCODE_SERVER_ADDRESS and the server identifies itself with CHAINCODE_ID (the package id).
// The rules live in package anchor; this file only binds them to the Fabric contract API.
//
// Built with `-tags fabric` because it needs the Fabric Go modules (see scripts/fabric.sh).
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"

	"github.com/hyperledger/fabric-chaincode-go/shim"
	"github.com/hyperledger/fabric-contract-api-go/contractapi"

	"hubledger/chaincode/anchor"
)

// LogAnchor is the contract: RegisterLog, AnchorCheckpoint, Latest, BySize.
type LogAnchor struct {
	contractapi.Contract
}

type stubStore struct{ stub shim.ChaincodeStubInterface }

func (s stubStore) Get(key string) ([]byte, error)     { return s.stub.GetState(key) }
func (s stubStore) Put(key string, value []byte) error { return s.stub.PutState(key, value) }

// RegisterLog records origin's verifier key "name+hexid+base64(0x01||pubkey)".
func (c *LogAnchor) RegisterLog(ctx contractapi.TransactionContextInterface, origin, vkey string) error {
	return anchor.RegisterLog(stubStore{ctx.GetStub()}, origin, vkey)
}

// AnchorCheckpoint anchors a signed checkpoint; proof is a JSON array of base64 hashes.
func (c *LogAnchor) AnchorCheckpoint(ctx contractapi.TransactionContextInterface, note, proof string) (string, error) {
	var encoded []string
	if proof != "" {
		if err := json.Unmarshal([]byte(proof), &encoded); err != nil {
			return "", fmt.Errorf("consistency proof must be a JSON array of base64 hashes: %w", err)
		}
	}
	hashes := make([][]byte, len(encoded))
	for i, e := range encoded {
		h, err := base64.StdEncoding.DecodeString(e)
		if err != nil {
			return "", fmt.Errorf("consistency proof element %d is not base64", i)
		}
		hashes[i] = h
	}
	rec, err := anchor.AnchorCheckpoint(stubStore{ctx.GetStub()}, []byte(note), hashes, ctx.GetStub().GetTxID())
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(rec)
	return string(b), nil
}

// Latest returns the last anchored checkpoint record as JSON, or "" if none.
func (c *LogAnchor) Latest(ctx contractapi.TransactionContextInterface, origin string) (string, error) {
	return encode(anchor.Latest(stubStore{ctx.GetStub()}, origin))
}

// BySize returns the anchored checkpoint of the given size as JSON, or "" if none.
func (c *LogAnchor) BySize(ctx contractapi.TransactionContextInterface, origin, size string) (string, error) {
	n, err := strconv.ParseUint(size, 10, 64)
	if err != nil {
		return "", fmt.Errorf("size %q is not a decimal number", size)
	}
	return encode(anchor.BySize(stubStore{ctx.GetStub()}, origin, n))
}

func encode(rec anchor.Record, err error) (string, error) {
	if errors.Is(err, anchor.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(rec)
	return string(b), nil
}

func main() {
	cc, err := contractapi.NewChaincode(&LogAnchor{})
	if err != nil {
		log.Fatalf("creating chaincode: %v", err)
	}
	server := &shim.ChaincodeServer{
		CCID:     os.Getenv("CHAINCODE_ID"),
		Address:  os.Getenv("CHAINCODE_SERVER_ADDRESS"),
		CC:       cc,
		TLSProps: shim.TLSProperties{Disabled: true}, // loopback only; the peer dials 127.0.0.1
	}
	if err := server.Start(); err != nil {
		log.Fatalf("chaincode server: %v", err)
	}
}
