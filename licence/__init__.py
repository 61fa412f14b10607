"""Electronic licences and seals: catalogue checks, issuance, lifecycle, disclosure and PDF.

Issuing authorities issue sealed electronic licences to holders found in the libraries; every
issuance, status change and seal event is an entry of the ledger, and receipts prove them
offline. The room holds the pure core of a sealed document, the seals and their certificate
authority, the signers (ECDSA P-256, SM2), the PDF rendition, the status lists, the licence
store, trust bundles, the cloud signature and the verification package. Imports ``schemas``,
``storage`` and ``ledger``, never ``hub`` or ``api``.

Public surface: ``service`` (issuance, lifecycle, seals), ``issuance``, ``errors``,
``document``, ``seals``, ``ca``, ``authorities``, ``signers``, ``pdf``, ``picture``,
``status_list``, ``status_snapshot``, ``store``, ``receipts``, ``trust``, ``trust_anchors``,
``samples``, ``bulk``, ``governance``, ``governance_run``, ``cloudsign`` and ``verify``
(packages).
"""
