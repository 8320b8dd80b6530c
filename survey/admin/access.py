"""Route guards for the console: sign-in required, then the role decides."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

from survey.models import Role

F = TypeVar("F", bound=Callable[..., Any])


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Anonymous visitors are sent to the sign-in page; signed-in staff without one of
    ``roles`` get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]  # functools.wraps keeps the signature

    return decorator


admin_only = roles_required(Role.ADMIN)
any_staff = roles_required(Role.ADMIN, Role.UNIT_OFFICER, Role.ANALYST)
results_readers = roles_required(Role.ADMIN, Role.ANALYST, Role.UNIT_OFFICER)
