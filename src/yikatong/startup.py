"""The start-up check: what `ykt serve` and `ykt worker` run before they listen or work, and
`create_app` runs when the platform is in production.

In production (`YKT_ENV=production`) the platform refuses to start, naming each missing or bad
setting, when:

* no key-encryption key is configured (`YKT_KEK` / `YKT_KEK_FILE`), or the key store is the
  in-memory development one (`YKT_KEY_STORE=memory`);
* the key store cannot be opened (missing, wrong KEK, damaged): otherwise the server would
  start and its jobs fail every cycle;
* any seam registered on the platform (factories included: they are built here) or the clock
  is a development-only implementation. The convention for the whole code base: such a class
  carries the class attribute `development_only = True` (the synthetic identity
  authenticator, the in-memory key store, the fixed clock, development outboxes, …);
* a demo login (`platform_setup.DEMO_USERS`) exists and is active in the database.

In development the same key-store check only warns (loudly), and the rest is not checked:
development implementations and demo logins are what development mode is for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import inspect, select

from yikatong.core.errors import DomainError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartupProblem:
    """One setting that stops a production start, and why, in both languages."""

    setting: str
    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.zh} / {self.en}"


class StartupRefused(DomainError):
    code = "startup_refused"
    http_status = 500
    zh = "生产模式拒绝启动：{problems_zh}"
    en = "Refusing to start in production: {problems_en}"

    def __init__(self, problems: list[StartupProblem]) -> None:
        self.problems = problems
        super().__init__(problems_zh="；".join(f"{p.setting}：{p.zh}" for p in problems),
                         problems_en="; ".join(f"{p.setting}: {p.en}" for p in problems))


def check_startup(platform) -> list[StartupProblem]:
    """Raise StartupRefused in production if anything is wrong; in development log each
    problem as a warning and return them (the CLI prints them too)."""
    problems = startup_problems(platform)
    if problems and platform.settings.is_production:
        raise StartupRefused(problems)
    for problem in problems:
        log.warning("start-up check: %s", problem)
    return problems


def check_startup_or_exit(platform, console) -> None:
    """The check at a CLI door (`ykt serve`, `ykt worker`): in production exit non-zero naming
    each bad setting; in development print each problem as a loud warning and go on."""
    import typer
    from rich.markup import escape

    try:
        problems = check_startup(platform)
    except StartupRefused as refused:
        console.print("[red]✗ startup_refused[/red] 生产模式拒绝启动 / refusing to start in production:")
        for problem in refused.problems:
            console.print(f"  [red]•[/red] {escape(str(problem))}")
        raise typer.Exit(1) from None
    for problem in problems:
        console.print(f"[bold red]! WARNING / 警告[/bold red] {escape(str(problem))}")


def startup_problems(platform) -> list[StartupProblem]:
    """Every reason this platform should not start (in its mode), in the order found."""
    production = platform.settings.is_production
    problems = _kek_problems(platform.settings) if production else []
    if not problems:  # without a KEK the key store cannot be tried
        problems += _key_store_problems(platform, production=production)
    if production:
        problems += _seam_problems(platform, key_store_checked=True)
        problems += _demo_login_problems(platform)
        problems += _page_secret_problems(platform.settings)
    return problems


def _page_secret_problems(settings) -> list[StartupProblem]:
    """The pages' CSRF signing secret: the development default is in the source code."""
    from yikatong.pages.sessions import MIN_PAGE_SECRET_LENGTH

    if settings.page_secret and len(settings.page_secret) >= MIN_PAGE_SECRET_LENGTH:
        return []
    return [StartupProblem(
        "YKT_PAGE_SECRET", f"未配置页面密钥（至少 {MIN_PAGE_SECRET_LENGTH} 个字符，各进程相同）",
        f"no page secret configured (at least {MIN_PAGE_SECRET_LENGTH} characters, the same in "
        "every worker)")]


def _kek_problems(settings) -> list[StartupProblem]:
    from yikatong.crypto.wiring import configured_kek

    if settings.key_store_path == "memory":
        return [StartupProblem("YKT_KEY_STORE", "生产环境不能使用内存密钥库（memory）",
                               "the in-memory development key store (memory) is not for production")]
    try:
        kek = configured_kek(settings)
    except DomainError as error:  # unreadable file, wrong length, group-readable, …
        return [StartupProblem("YKT_KEK / YKT_KEK_FILE", error.message_zh, error.message_en)]
    if kek is None:
        return [StartupProblem(
            "YKT_KEK / YKT_KEK_FILE", "未配置密钥加密密钥（生产环境不会自动生成 KEK 文件）",
            "no key-encryption key configured (production never creates a KEK file)")]
    return []


def _key_store_problems(platform, *, production: bool) -> list[StartupProblem]:
    """Open the key store the platform will use. In development only an existing store file
    is tried (a missing one is created on first use, as before)."""
    from pathlib import Path

    from yikatong.crypto.protocols import KeyStore

    settings = platform.settings
    if not production and settings.key_store_path != "memory" and not Path(settings.key_store_path).exists():
        return []
    try:
        platform.get(KeyStore).list()
    except DomainError as error:
        return [StartupProblem("YKT_KEY_STORE / YKT_KEK", error.message_zh, error.message_en)]
    return []


def _seam_problems(platform, *, key_store_checked: bool) -> list[StartupProblem]:
    """Build every registered seam (lazy factories included) and refuse development-only ones."""
    from yikatong.crypto.protocols import KeyStore

    problems = []
    if _development_only(platform.clock):
        problems.append(_development_problem("clock", platform.clock))
    for protocol in platform.protocols():
        name = getattr(protocol, "__name__", str(protocol))
        try:
            implementation = platform.get(protocol)
        except Exception as error:  # noqa: BLE001 - whatever breaks a seam stops the start
            if protocol is KeyStore and key_store_checked:
                continue  # already named by the key-store check
            problems.append(StartupProblem(f"seam {name}", f"无法创建：{error}", f"cannot be built: {error}"))
            continue
        if _development_only(implementation):
            problems.append(_development_problem(f"seam {name}", implementation))
    return problems


def _development_only(implementation) -> bool:
    return getattr(implementation, "development_only", False) is True


def _development_problem(setting: str, implementation) -> StartupProblem:
    kind = type(implementation).__qualname__
    return StartupProblem(setting, f"{kind} 仅供开发和测试使用，须换成正式实现",
                          f"{kind} is for development and tests only; register a production implementation")


def _demo_login_problems(platform) -> list[StartupProblem]:
    from yikatong.auth.models import User
    from yikatong.platform_setup import DEMO_USERS

    if not inspect(platform.engine).has_table(User.__tablename__):
        return []  # a database not migrated yet holds no logins
    names = [username for username, _, _ in DEMO_USERS]
    with platform.uow() as uow:
        found = sorted(uow.session.execute(
            select(User.username).where(User.username.in_(names), User.active.is_(True))).scalars())
    if not found:
        return []
    listed = ", ".join(found)
    return [StartupProblem(
        "demo logins / 演示账号", f"数据库中存在演示账号 {listed}：请用 ykt user deactivate 停用或使用新数据库",
        f"the database holds demo logins {listed}: deactivate them (ykt user deactivate) or use a fresh database")]
