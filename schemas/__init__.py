"""The data standard: identifier rules, library schemas, dataset contracts, licence types. Pure.

What every other room agrees on: the national identifier rules (resident ID, unified social
credit code, licence identifier, GB/T 2260 divisions), the two libraries' schemas and code
tables, the dataset contracts departments deliver to, the licence-type catalogue, the 一数一源
precedence rule and the readers that turn department files into Arrow with a contract's types.
Pure: it reads its own files and the files it is given, and does no other I/O; it imports no
other room.

Public surface: ``resident_id``, ``uscc``, ``licence_id``, ``divisions``, ``identifiers``,
``library``, ``contracts``, ``licence_types``, ``precedence``, ``readers``.
"""
