"""Which account of the identity provider a console user is: a user created by signing in with the provider is
found again by the provider's subject, never by a username or an email address someone could take over."""

from django.conf import settings
from django.db import models


class ProviderIdentity(models.Model):
    """The provider's (issuer, subject) of a user the provider signed in. Deleting the user removes the link; the
    next sign-in with that subject creates the user again."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    linked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "provider identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_provider_subject")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
