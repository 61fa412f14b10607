"""Object identifiers of the cloud-signature service (CSC v2): hash, signature, key algorithms."""

SHA256_OID = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256_OID = "1.2.840.10045.4.3.2"
EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"
P256_OID = "1.2.840.10045.3.1.7"
# national profile (GB/T 33560): SM2 key (the curve of id-ecPublicKey), SM2-with-SM3, SM3
SM2_KEY_OID = "1.2.156.10197.1.301"
SM2_SM3_OID = "1.2.156.10197.1.501"
SM3_OID = "1.2.156.10197.1.401"
