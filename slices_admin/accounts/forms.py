"""The sign-in form: Django's, saying so when a right password belongs to an account that must use the identity
provider (`PASSWORD_SIGN_IN=listed`)."""

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from . import provider
from .backends import password_refused_by_setting


class ConsoleAuthenticationForm(AuthenticationForm):
    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        if provider.enabled():  # the provider's button comes first: the cursor does not jump past it
            self.fields["username"].widget.attrs.pop("autofocus", None)

    def get_invalid_login_error(self) -> ValidationError:
        if self.request is not None and password_refused_by_setting(self.request):
            way = f"sign in with {provider.name()}" if provider.enabled() else "ask an administrator"
            return ValidationError(
                f"This account does not sign in with a password here: {way}.", code="password_sign_in_off"
            )
        return super().get_invalid_login_error()
