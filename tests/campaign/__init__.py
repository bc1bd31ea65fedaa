"""The fault campaign: a probe strategy run against each venue's local testnet under each fault.

``probe`` is the strategy, ``compare`` the pure comparison of the venue's ledger with the client's
view, ``ledger`` reads both sides (the testnet's state file or REST API; the run's journal, the
balances it implies and the final status line), and ``harness`` runs the processes and the
scenario table. ``tests/benchmarks/fault_campaign.py``
prints the table.
"""
