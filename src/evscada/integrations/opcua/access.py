"""Who may do what on the OPC UA server: users from the settings, read-only users see and call no methods."""

from __future__ import annotations

import hmac
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole
from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import InternalSession
from asyncua.server.user_managers import UserManager

from evscada.integrations.opcua.settings import OpcUaUser

# asyncua's roles, as evscada's: an operator may call the station methods (asyncua's "Admin" role is only the
# name of the stronger of its two; the rules below grant it no address-space editing).
ROLES = {"operator": UserRole.Admin, "read_only": UserRole.User}
_CALL = ua.NodeId(ua.Int32(ua.ObjectIds.CallRequest_Encoding_DefaultBinary))
_WRITE = ua.NodeId(ua.Int32(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary))
_READ_ONLY = frozenset(ua.NodeId(ua.Int32(type_id)) for type_id in USER_TYPES) - {_CALL, _WRITE}
_OPERATOR = _READ_ONLY | {_CALL}
_ANONYMOUS = User(role=UserRole.Anonymous)


class SettingsUsers(UserManager):
    """Username and password, compared in constant time; anyone else is refused (BadUserAccessDenied)."""

    def __init__(self, users: list[OpcUaUser]) -> None:
        self._users = {user.username: user for user in users}

    def get_user(
        self, iserver: InternalServer, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        user = self._users.get(username or "")
        if user is None or password is None:
            return None
        if not hmac.compare_digest(password.encode(), user.password.get_secret_value().encode()):
            return None
        return User(role=ROLES[user.role], name=user.username)


class RoleRules(PermissionRuleset):
    """Read-only users browse, read and subscribe; operators also call methods; nobody writes or edits nodes."""

    def check_validity(self, user: User, action_type_id: ua.NodeId, body: Any) -> bool:
        allowed = _OPERATOR if user.role == UserRole.Admin else _READ_ONLY if user.role == UserRole.User else set()
        return action_type_id in allowed


def hide_methods_from_readers(iserver: InternalServer) -> None:
    """A read-only user's browse results leave the methods out: a SCADA shows them no buttons they cannot use."""
    create = iserver.create_session

    def create_session(name: str, user: User = _ANONYMOUS, external: bool = False) -> InternalSession:
        session = create(name, user, external)
        browse = session.browse

        async def browsed(params: ua.BrowseParameters) -> list[ua.BrowseResult]:
            results = await browse(params)
            if session.user is None or session.user.role != UserRole.Admin:
                for result in results:
                    result.References = [r for r in result.References if r.NodeClass != ua.NodeClass.Method]
            return results

        session.browse = browsed  # type: ignore[method-assign]
        return session

    iserver.create_session = create_session  # type: ignore[method-assign]
