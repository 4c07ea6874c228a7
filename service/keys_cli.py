"""``dasedge keys create|list|revoke``: manage API keys in the store.

``create`` prints the plain key ONCE on stdout (nothing else on stdout, so
``KEY=$(dasedge keys create --scope read)`` works); only the key id is
shown afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys

from dasedge.block import iso_utc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=None, help="database URL or SQLite path (default: DASEDGE_DB_URL / settings)")
    sub = parser.add_subparsers(dest="keys_cmd", required=True)
    c = sub.add_parser("create", help="create a key and print it once")
    c.add_argument("--scope", action="append", choices=["read", "write", "admin"], required=True,
                   help="scope (repeatable); write includes read, admin includes both")
    c.add_argument("--name", default="", help="free label (who/what uses the key)")
    ls = sub.add_parser("list", help="list keys (ids, scopes, state; never secrets)")
    ls.add_argument("--json", action="store_true")
    r = sub.add_parser("revoke", help="revoke a key by id")
    r.add_argument("key_id")


def _store(args):
    from service.settings import Settings
    from service.store import open_store

    url = args.db or Settings().db_url
    return open_store(url, outbox=False)


def run(args: argparse.Namespace) -> int:
    from service.auth import create_key

    store = _store(args)
    try:
        if args.keys_cmd == "create":
            key_id, plain = create_key(store, args.scope, name=args.name)
            print(plain)
            print(f"created {key_id} scopes={','.join(args.scope)}; store the key now, it is not shown again",
                  file=sys.stderr)
            return 0
        if args.keys_cmd == "list":
            rows = store.list_api_keys()
            if args.json:
                print(json.dumps(rows))
            else:
                for r in rows:
                    state = "revoked" if r["revoked_ns"] else "active"
                    print(f"{r['key_id']}  {','.join(r['scopes']):<16} {state:<8} {iso_utc(r['created_ns'])}  {r['name']}")
            return 0
        if args.keys_cmd == "revoke":
            if store.revoke_api_key(args.key_id):
                print(f"revoked {args.key_id}", file=sys.stderr)
                return 0
            print(f"no active key {args.key_id}", file=sys.stderr)
            return 1
    finally:
        store.close()
    return 2
