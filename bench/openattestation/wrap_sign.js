// Peer baseline: OpenAttestation (v2) wraps N documents in one batch (salted field digests,
// Merkle root) and signs each with a secp256k1 DID key, as its documentation shows.
// Reads one JSON document per line from argv[2]; prints {"docs", "wrap_s", "sign_s"}.
const fs = require("fs");
const oa = require("@govtechsg/open-attestation");
const { Wallet } = require("ethers");

async function main() {
  const lines = fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean);
  // fixed test key: this is a benchmark, not a secret
  const wallet = new Wallet("0x" + "11".repeat(32));
  const did = `did:ethr:${wallet.address}`;
  const raw = lines.map((line) => ({
    $template: { name: "LICENCE", type: "EMBEDDED_RENDERER", url: "https://hub.example.gov.cn/render" },
    issuers: [{
      id: did, name: "Issuing authority", revocation: { type: "NONE" },
      identityProof: { type: "DNS-DID", location: "hub.example.gov.cn", key: `${did}#controller` },
    }],
    ...JSON.parse(line),
  }));
  let t = process.hrtime.bigint();
  const wrapped = oa.wrapDocuments(raw);
  const wrapS = Number(process.hrtime.bigint() - t) / 1e9;
  t = process.hrtime.bigint();
  for (const doc of wrapped) {
    await oa.signDocument(doc, oa.SUPPORTED_SIGNING_ALGORITHM.Secp256k1VerificationKey2018, {
      public: `${did}#controller`, private: wallet.privateKey,
    });
  }
  const signS = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(JSON.stringify({ docs: wrapped.length, wrap_s: wrapS, sign_s: signS }));
}

main().catch((e) => { console.error(e); process.exit(1); });
