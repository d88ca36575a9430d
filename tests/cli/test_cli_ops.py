"""The operator's CLI: the same job and queue actions as the dashboard, one line each."""

from __future__ import annotations

import pytest

from actors.testing import assert_enqueued_with
from cli.main import main
from config.redis_ref import RedisRef
from models import AuditEntry, JobRun
from ops.pause import paused_queues


def run(status: str, subject: str, n: int = 1) -> JobRun:
    job, _ = JobRun.open(message_id=f"cli-{subject}-{n}", actor="update_user", args=[n],
                         subject=subject, queue="interactive", status=status)  # fmt: skip
    return job


def test_list_and_show_print_the_runs(db, cli_env, capsys):
    failed = run("failed", "user:7", 7)
    JobRun.update(error="Boom", traceback="Traceback: here").execute()
    run("queued", "user:8", 8)

    assert main(["jobs", "list", "--status", "failed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and str(failed.id) in lines[0] and "failed" in lines[0]

    assert main(["jobs", "show", str(failed.id)]) == 0
    out = capsys.readouterr().out
    assert "error: Boom" in out and "Traceback: here" in out


def test_cancel_and_retry_act_on_the_rows_and_the_queue(db, cli_env, broker, capsys):
    queued = run("queued", "user:1", 1)
    failed = run("failed", "user:2", 2)

    assert main(["jobs", "cancel", str(queued.id)]) == 0
    assert JobRun.get_by_id(queued.id).status == "cancelled"
    assert main(["jobs", "retry", str(failed.id)]) == 0
    assert "sent as job" in capsys.readouterr().out
    assert_enqueued_with(broker, "interactive", "update_user", [2])
    assert main(["jobs", "cancel", "all"]) == 0
    assert not JobRun.select().where(JobRun.status == "queued").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["jobs", "show", "x1"],
        ["jobs", "show", "999999"],
        ["jobs", "cancel", "'; drop table job_runs"],
        ["jobs", "retry", "<b>"],
        ["jobs", "list", "--status", "nope"],
        ["queues", "pause", "nope"],
    ],
)
def test_bad_ids_and_names_get_one_line_and_change_nothing(db, cli_env, capsys, argv):
    run("failed", "user:3", 3)

    assert main(argv) in (1, 2)

    err = capsys.readouterr().err
    assert err.startswith("overlap: ") and len(err.strip().splitlines()) == 1
    assert JobRun.select().count() == 1 and JobRun.get().status == "failed"


def test_queues_pause_resume_and_stats(db, cli_env, broker, capsys):
    assert main(["queues", "pause", "bulk"]) == 0
    assert "bulk" in paused_queues(RedisRef.of(broker))
    assert main(["queues", "stats"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("bulk") and line.endswith("paused") for line in out.splitlines())
    assert main(["queues", "resume", "bulk"]) == 0
    assert "bulk" not in paused_queues(RedisRef.of(broker))


def test_queues_dead_lists_requeues_and_deletes_and_each_action_is_audited(
    db, cli_env, broker, capsys
):
    from models import AuditEntry
    from ops.dead_letters import count_dead
    from tests.ops.test_dead_letters import bury

    ref = RedisRef.of(broker)
    first = bury(ref, "artists", "update_artist", ["a1"], error="ValueError: bad page")
    for i in range(3):
        bury(ref, "artists", "update_artist", [f"b{i}"])

    assert main(["queues", "dead", "list", "artists"]) == 0
    out = capsys.readouterr().out
    assert "artists: 4 dead" in out and f"{first}" in out and "ValueError: bad page" in out
    assert main(["queues", "dead", "requeue", "artists", first]) == 0
    assert ref.client.llen(ref.key("artists")) == 1
    assert main(["queues", "dead", "delete", "artists", "all"]) == 0
    assert "3 dead messages deleted" in capsys.readouterr().out
    assert count_dead(ref, "artists") == 0
    assert main(["queues", "dead", "delete", "artists", first]) == 1
    assert main(["queues", "dead", "requeue", "nope", "all"]) == 2
    actions = [(e.who.split(":")[0], e.action, e.target, e.count) for e in AuditEntry.select()]
    assert actions == [
        ("cli", "requeue", f"dead:artists:{first}", 1),
        ("cli", "delete", "dead:artists:all", 3),
    ]


def test_queues_list_delete_and_purge_act_like_the_dashboard(db, cli_env, broker, capsys):
    from jobs.queueing import build_message

    ref = RedisRef.of(broker)
    sync = build_message("update_user", "bulk", [5])
    job, _ = JobRun.open(message_id=sync.message_id, actor="update_user", args=[5],
                         subject="user:5", queue="bulk")  # fmt: skip
    sync_id = broker.enqueue(sync).options["redis_message_id"]
    for n in range(3):
        broker.enqueue(build_message("update_artist", "bulk", [f"a{n}"]))

    assert main(["queues", "list", "bulk"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "4 waiting, 0 delayed, 0 retrying"
    assert sync_id in out and 'update_artist("a2")' in out

    assert main(["queues", "delete", "bulk", sync_id]) == 0
    assert "1 job runs cancelled" in capsys.readouterr().out
    assert JobRun.get_by_id(job.id).status == "cancelled"
    assert main(["queues", "delete", "bulk", sync_id]) == 1  # gone

    assert main(["queues", "purge", "bulk"]) == 2  # asks for --yes, says how many
    assert "would delete 3 messages" in capsys.readouterr().err
    assert main(["queues", "purge", "bulk", "--yes"]) == 0
    assert "3 messages deleted" in capsys.readouterr().out
    assert ref.client.llen(ref.key("bulk")) == 0
    assert [(e.action, e.count) for e in AuditEntry.select().order_by(AuditEntry.id)] == [
        ("delete", 1), ("purge", 3)
    ]  # fmt: skip
    assert main(["queues", "list", "nope"]) == 2
    assert main(["queues", "list", "bulk", "running"]) == 2
