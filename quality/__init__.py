"""Data quality: contract rules run vectorised over Arrow, mirrored in Great Expectations.

The one rule engine of the hub: a contract's rules run over an Arrow table and give each row
its reason codes; referential rules run after the merge; metrics per run (GB/T 36344
dimensions), thresholds and scorecards are kept and charted. The Great Expectations mirror
(suites, checkpoints, Data Docs) lives in ``gx`` alone, the only module that imports it. Imports
``schemas`` (and ``storage``, for the library tables the mirror validates).

Public surface: ``engine`` (the rules and the check), ``results`` (what a check gives),
``coercion`` (text to a column's type), ``text`` (the character and formula policies),
``referential``, ``metrics``, ``charts``, ``gx``; ``arrays`` holds the engine's numpy views of
Arrow arrays, for those modules only.
"""
