"""How events reach Airflow from the landing zone's queues.

- `sqs`: `SqsQueueTrigger`, the watcher of every notification queue (the shared one and each
  dedicated tenant's), on Airflow's shared-stream triggers in ack mode;
- `capacity`: the triggerer slots the kit needs, checked at parse time and by `airlock capacity`;
- `probe`: is a queue being watched, polled and acked? (fault tests and benchmarks ask before uploading).
"""
