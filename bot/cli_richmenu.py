"""`tsunagu richmenu apply|list|draw`: the rich menu on LINE (bot/richmenu.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from linebot.v3.messaging import ApiException

from bot.config import load_settings


def add_richmenu_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("richmenu", help="the rich menu: draw it, set it on LINE, list what is set")
    rsub = p.add_subparsers(dest="richmenu_command")
    q = rsub.add_parser("apply", help="draw the menu, upload it and make it every user's default")
    q.add_argument("--save-image", metavar="PATH", help="also write the drawn image here (to look at it)")
    q.set_defaults(func=cmd_apply)
    q = rsub.add_parser("list", help="the channel's rich menus (* = the default)")
    q.set_defaults(func=cmd_list)
    q = rsub.add_parser("draw", help="only draw the image to a file (nothing is sent to LINE)")
    q.add_argument("path")
    q.set_defaults(func=cmd_draw)


def cmd_apply(args: argparse.Namespace) -> int:
    from bot import richmenu

    settings = load_settings(require_line=False)
    try:
        image = richmenu.draw(richmenu.find_font(settings.richmenu_font))
        if args.save_image:
            Path(args.save_image).write_bytes(image)
        applied = richmenu.apply(settings, image)
    except richmenu.RichMenuError as exc:
        print(exc, file=sys.stderr)
        return 2
    except ApiException as exc:
        print(f"LINE refused the rich menu: HTTP {exc.status} {exc.reason}", file=sys.stderr)
        return 1
    print(f"rich menu {applied.rich_menu_id} is now the default ({applied.image_bytes} bytes"
          f"{f'; deleted {len(applied.deleted)} earlier' if applied.deleted else ''})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bot import richmenu

    for line in richmenu.describe(load_settings(require_line=False)) or ["(no rich menu)"]:
        print(line)
    return 0


def cmd_draw(args: argparse.Namespace) -> int:
    from bot import richmenu

    settings = load_settings(require_line=False)
    try:
        Path(args.path).write_bytes(richmenu.draw(richmenu.find_font(settings.richmenu_font)))
    except richmenu.RichMenuError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {args.path}")
    return 0
