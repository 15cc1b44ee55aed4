"""`ykt`: the operators' door. Domains add commands through their own `cli.py`.

A domain's `cli.py` defines `register(group)`, where `group(name)` returns the Typer
sub-command group `ykt NAME` (created on first use, shared between domains), and
`group(None)` the top level.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer
from rich.console import Console
from rich.markup import escape

import yikatong
from yikatong.core.errors import DomainError

app = typer.Typer(help="Yikatong 一卡通 platform / 江苏（常州）一卡通平台", no_args_is_help=True)
console = Console()
_groups: dict[str, typer.Typer] = {}


def group(name: str | None) -> typer.Typer:
    if name is None:
        return app
    if name not in _groups:
        _groups[name] = typer.Typer(no_args_is_help=True)
        app.add_typer(_groups[name], name=name)
    return _groups[name]


def _register_domains() -> None:
    for module in sorted(pkgutil.iter_modules(yikatong.__path__), key=lambda m: m.name):
        if not module.ispkg or module.name == "cli":
            continue
        name = f"yikatong.{module.name}.cli"
        try:
            domain_cli = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        domain_cli.register(group)


def fail(error: DomainError) -> None:
    """Print a domain error the way the CLI always does, then exit non-zero."""
    # The messages can echo what the operator typed; escaped, "[/x]" is printed, not parsed as markup.
    console.print(f"[red]✗ {error.code}[/red] {escape(error.message_zh)} / {escape(error.message_en)}")
    raise typer.Exit(1)


_register_domains()


if __name__ == "__main__":  # `python -m yikatong.cli.main …` (the fault tests' subprocesses)
    app(prog_name="ykt")
