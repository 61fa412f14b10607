"""Electronic licences and seals: catalogue checks, issuance, lifecycle, disclosure and PDF."""
