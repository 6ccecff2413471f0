"""The audit checkpoint's part of the settings (README "Backup, restore and audit checkpoints"). `settings` imports
every name of this module.
"""

from slices_admin.environment import env

# The key `manage.py audit_checkpoint` signs the audit chain's head with and `verify_audit --checkpoint` checks it by
# (HMAC-SHA256): a random value of 32 characters or more, kept apart from the database and its backups, like the
# checkpoints themselves. Empty: no checkpoints (both commands refuse and say so); the console runs as before.
AUDIT_CHECKPOINT_KEY = env("AUDIT_CHECKPOINT_KEY", "")
