"""What approval systems and departments get from the hub (architecture §3.5).

Claims (核验, 证明免提交): yes/no questions about a person or an entity answered true, false or
undetermined, never with a value (:mod:`sharing.claims`), and the sealed, logged receipt of
each answer set (:mod:`sharing.receipts`). Pure decisions; stores come in through Protocols.
"""
