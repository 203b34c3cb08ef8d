from __future__ import annotations

import argparse

import httpx


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000/healthz", help="health URL to probe")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before giving up")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the URL answers 2xx (container HEALTHCHECK; needs no curl in the image)."""
    try:
        response = httpx.get(args.url, timeout=args.timeout)
    except httpx.HTTPError as error:
        print(f"unhealthy: {args.url}: {error}")
        return 1
    if response.is_success:
        return 0
    print(f"unhealthy: {args.url} answered {response.status_code}")
    return 1
