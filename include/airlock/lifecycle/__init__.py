"""Day-2 operations on tenants and batches that already exist: re-process, re-deliver, offboard, erase.

Modules (each imports only what it needs; nothing here runs at DAG parse time):
- versions    what a run's output depends on: the snapshot's content hash and the code version
- batches     which committed batches a selection names, and their attempts
- airflow     the Airflow calls a re-run needs (partition-aware clear, trigger), through the REST API
- reprocess   plan and start re-runs (`airlock reprocess`)
- redeliver   a new snapshot version of an already snapshotted batch (`airlock redeliver`)
- offboard    stop intake, drain, export and drop the warehouse schemas (`airlock tenant offboard`)
- erase       crypto-shredding and the audit record (`airlock tenant erase`)
"""
