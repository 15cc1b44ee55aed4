"""`ykt realname`: run the REFERENCE real-name provider (development only) and rotate its key."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()

DEFAULT_KEY_FILE = "var/realname-provider/keys.json"  # its own file, never the key store
DEFAULT_CLIENT_ID = "yikatong"


def register(group) -> None:
    realname = group("realname")

    @realname.command("serve")
    def serve_command(
        host: str = typer.Option("127.0.0.1", help="Listen address"),
        port: int = typer.Option(8900, help="Port"),
        issuer: str = typer.Option(None, help="Public base URL (default http://HOST:PORT)"),
        key_file: str = typer.Option(DEFAULT_KEY_FILE, help="The provider's own signing keys"),
        client_id: str = typer.Option(DEFAULT_CLIENT_ID, help="The platform's client id"),
        client_secret: str = typer.Option(
            None, envvar="YKT_REALNAME_CLIENT_SECRET",
            help="Require this client secret at the token endpoint (default: public client)"),
        redirect_uri: list[str] = typer.Option(
            None, help="The platform's registered callback (repeatable; default "
                       "http://127.0.0.1:8000/api/v1/oidc/callback and the localhost one)"),
    ) -> None:
        """Run the reference real-name provider (development only) / 运行开发用实名认证服务."""
        import uvicorn

        from yikatong.core.settings import Settings
        from yikatong.realname.app import RegisteredClient, create_provider_app

        if Settings.from_env().is_production:
            console.print("[red]✗ the reference real-name provider is a development tool; "
                          "it does not run with YKT_ENV=production[/red] / 开发用工具，生产模式下不可运行")
            raise typer.Exit(1)
        issuer = issuer or f"http://{host}:{port}"
        redirects = tuple(redirect_uri or (f"http://{name}:8000/api/v1/oidc/callback"
                                           for name in ("127.0.0.1", "localhost")))
        app = create_provider_app(issuer=issuer, key_path=key_file, clients=[
            RegisteredClient(client_id=client_id, redirect_uris=redirects, secret=client_secret)])
        console.print("[bold yellow]Reference real-name provider: DEVELOPMENT ONLY, it verifies "
                      "nobody[/bold yellow] / 开发用实名认证服务，不做真实核验")
        console.print(f"  issuer: {issuer}   client: {client_id}   keys: {key_file}")
        console.print(f"  platform: YKT_OIDC_ISSUER={issuer} YKT_OIDC_CLIENT_ID={client_id}")
        uvicorn.run(app, host=host, port=port, log_level="info")

    @realname.command("rotate-key")
    def rotate_key_command(
        key_file: str = typer.Option(DEFAULT_KEY_FILE, help="The provider's own signing keys"),
    ) -> None:
        """Give the reference provider a new signing key / 轮换开发用实名认证服务的签名密钥."""
        from yikatong.realname.keys import MAX_KEYS, rotate

        kid = rotate(key_file)
        console.print(f"new signing key {kid}; the last {MAX_KEYS} keys stay published")
