"""The tamper-evident ledger: an RFC 9162 Merkle log with signed checkpoints and receipts.

Every licence, status and seal event, and the audit digests, are entries of one Merkle log;
its checkpoints are C2SP signed notes, anchored by a backend (embedded SQL table or Hyperledger
Fabric), and a receipt proves an entry offline. The Merkle maths, notes, receipts and the strict
JSON reader are pure; the service keeps the log through ``storage.ledger_store``. Takes plain
configuration, never the hub's settings.

Public surface: ``merkle``, ``note``, ``receipt``, ``strict_json``, ``service`` (with
``log_reader``, its read side), ``anchor``, ``embedded_anchor``, ``fabric_anchor`` (with
``fabric_gateway``, its client); the chaincode (Go) is in ``ledger/chaincode/``.
"""
