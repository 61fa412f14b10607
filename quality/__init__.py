"""Data quality: contract rules run vectorised over Arrow, mirrored in Great Expectations."""
