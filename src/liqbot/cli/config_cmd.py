"""`liqbot config …`: check a config file and show what the bot would actually run with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from liqbot.config import load_config, redacted_view
from liqbot.core.errors import ConfigError

app = typer.Typer(help="Validate configuration files.", no_args_is_help=True)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _tree(label: str, value: Any) -> Tree:
    tree = Tree(escape(label))
    _grow(tree, value)
    return tree


def _grow(tree: Tree, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, (dict, list)) and child:
                _grow(tree.add(f"[bold]{escape(str(key))}[/bold]"), child)
            else:
                tree.add(f"[bold]{escape(str(key))}[/bold]: {escape(_scalar(child))}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            if isinstance(child, (dict, list)) and child:
                _grow(
                    tree.add(f"[{index}]" if not isinstance(child, dict) else _item_label(child, index)),
                    child,
                )
            else:
                tree.add(escape(_scalar(child)))


def _item_label(item: dict[str, Any], index: int) -> str:
    name = item.get("name")
    return escape(f"[{index}] {name}" if isinstance(name, str) else f"[{index}]")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return "[]" if isinstance(value, list) else "{}"
    return str(value).lower() if isinstance(value, bool) else str(value)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="The YAML config file.", show_default=False)],
    tree: Annotated[bool, typer.Option("--tree", help="Show a tree instead of YAML.")] = False,
) -> None:
    """Validate FILE and print the effective config (presets merged, env expanded, secrets redacted)."""
    try:
        config = load_config(file)
    except ConfigError as exc:
        # One line per problem; the exit code matches what main.py uses for any LiqbotError.
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    view = redacted_view(config)
    if tree:
        console.print(_tree(str(file), view), soft_wrap=True)
    else:
        console.print(
            escape(yaml.safe_dump(view, sort_keys=False, allow_unicode=True)), end="", soft_wrap=True
        )
    console.print("[green]config OK[/green]")
