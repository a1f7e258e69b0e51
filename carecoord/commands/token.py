"""`carecoord token --role ROLE --sub NAME`: a bearer token signed by the local key, for local use.

The local ES256 key pair lives in `<data>/jwt/` (made on first use). When CARECOORD_JWKS names
another key set, tokens come from that identity provider instead and this command refuses.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from carecoord.api.roles import ROLES

    parser.add_argument("--role", required=True, choices=ROLES, help="the caller's role")
    parser.add_argument("--sub", required=True, help="who the caller is (the token's subject)")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid (default 3600)")


def run(args: argparse.Namespace) -> int:
    from carecoord.api.auth import AuthConfig, mint_local_token
    from carecoord.config import ConfigError, Settings

    if args.ttl <= 0:
        print("carecoord token: --ttl must be a positive number of seconds")
        return 2
    try:
        config = AuthConfig.from_env(Settings.from_env())
        print(mint_local_token(config, args.role, args.sub, ttl=args.ttl))
    except ConfigError as error:
        print(f"carecoord token: {error}")
        return 2
    return 0
