"""Charter v1 (deprecated) through a client that openapi-python-client
generated from /openapi/v1.json (the package `charter_v1_client`).

Usage: python scenario_v1.py BASE_URL

Register, log in, read the caller's own profile and find it in the user
listing. The first result that differs from the contract ends the run with a
non-zero status.
"""

from __future__ import annotations

import secrets
import sys

from checks import check, expect
from charter_v1_client import AuthenticatedClient, Client
from charter_v1_client.api.auth import login
from charter_v1_client.api.users import create_user, get_me, list_users
from charter_v1_client.models import LoginRequest, Me, NewUser, Token, User, UserList


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url)
    email = f"py1-{secrets.token_hex(8)}@example.com"
    password = secrets.token_urlsafe(18)

    created = expect(
        create_user.sync(
            client=anonymous, body=NewUser(name="Python Legacy", email=email, password=password)
        ),
        User,
        "register",
    )
    token = expect(
        login.sync(client=anonymous, body=LoginRequest(email=email, password=password)),
        Token,
        "login",
    )
    user = AuthenticatedClient(base_url=base_url, token=token.access_token)

    response = get_me.sync_detailed(client=user)
    me = expect(response.parsed, Me, "me")
    check(me.id == created.id and me.email == email, f"me is {me}, registered {created}")
    # Every v1 response says that v1 is deprecated.
    check("deprecation" in response.headers, "a v1 response without Deprecation")

    offset = 0
    while True:
        page = expect(list_users.sync(client=user, limit=100, offset=offset), UserList, "users")
        check(page.offset == offset, f"asked for offset {offset}, got {page.offset}")
        ids = [u.id for u in page.users]
        check(ids == sorted(ids), "users are not ordered by id")
        if me.id in ids:
            break
        check(len(page.users) == page.limit, f"{me.id} is not among the users")
        offset += len(page.users)

    print(f"python v1: user {me.id} registered, logged in and listed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: scenario_v1.py BASE_URL")
    main(sys.argv[1])
