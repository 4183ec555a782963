"""Permission checks for views: the check that stands behind every hidden button."""
from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user, login_required


def permission_required(permission: str):
    """Require a signed-in user whose role grants `permission`; 403 otherwise."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


def safe_next_url(target: str | None) -> str | None:
    """Return `target` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if any(ord(ch) < 32 for ch in target):
        return None
    return target
