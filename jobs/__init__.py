"""Work the worker runs: training, refresh and backfills, queued durably in the database and run on a schedule.

`queue` holds the job table's verbs (enqueue, claim, heartbeat, finish), `tasks` what each job does, `worker` the
loop that claims and runs them, `schedule` the cron triggers that enqueue them.
"""
