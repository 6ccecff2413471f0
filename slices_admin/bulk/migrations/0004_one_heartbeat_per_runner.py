from django.db import migrations, models


class Migration(migrations.Migration):
    """A job's own heartbeat goes: its runners' rows are the one record of it being worked. What the sweep still
    needs from the job, when it last queued runners for it, gets a column of its own."""

    dependencies = [
        ("bulk", "0003_drop_unused_not_before"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="bulkeditjob",
            name="bulkjob_state_heartbeat",
        ),
        migrations.RemoveField(
            model_name="bulkeditjob",
            name="heartbeat_at",
        ),
        migrations.AddField(
            model_name="bulkeditjob",
            name="runners_queued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="bulkeditjob",
            index=models.Index(fields=["state", "runners_queued_at"], name="bulkjob_state_queued"),
        ),
    ]
