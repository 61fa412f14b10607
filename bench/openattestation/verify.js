// Peer baseline for bench/verify.py: OpenAttestation (v2) wraps and signs N documents (untimed),
// then verifySignature checks each one (salted field digests -> target hash -> Merkle proof ->
// root, as its documentation shows). Reads one JSON document per line from argv[2]; prints
// {"docs", "verify_s" (median of the rounds), "verify_cpu_s" (this process's CPU time, median of
// the rounds), "valid", "rounds"}.
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
  const wrapped = oa.wrapDocuments(raw);
  const signed = [];
  for (const doc of wrapped) {
    signed.push(await oa.signDocument(doc, oa.SUPPORTED_SIGNING_ALGORITHM.Secp256k1VerificationKey2018, {
      public: `${did}#controller`, private: wallet.privateKey,
    }));
  }
  // verifiers receive documents as JSON text: parse each, as our side does
  const texts = signed.map((d) => JSON.stringify(d));
  // the machine is shared: the median of ROUNDS passes (argv[3], default 3)
  const rounds = Number(process.argv[3] || 3);
  const times = [];
  const cpus = [];
  let valid = 0;
  for (let r = 0; r < rounds; r++) {
    const cpu = process.cpuUsage();
    const t = process.hrtime.bigint();
    valid = 0;
    for (const text of texts) {
      if (oa.verifySignature(JSON.parse(text))) valid += 1;
    }
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1e6);
  }
  times.sort((a, b) => a - b);
  cpus.sort((a, b) => a - b);
  const verifyS = times[Math.floor(times.length / 2)];
  const verifyCpuS = cpus[Math.floor(cpus.length / 2)];
  console.log(JSON.stringify({ docs: texts.length, verify_s: verifyS, verify_cpu_s: verifyCpuS, valid, rounds }));
}

main().catch((e) => { console.error(e); process.exit(1); });
