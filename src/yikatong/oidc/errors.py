"""Errors of the holder-facing real-name sign-in flow (the token checks themselves answer
RealNameResult(verified=False, reason=…); an unreachable provider is
applications.protocols.IdentityServiceUnavailable)."""

from __future__ import annotations

from yikatong.core.errors import DomainError


class RealNameLoginNotConfigured(DomainError):
    code = "realname_login_not_configured"
    http_status = 404
    zh = "本平台未配置实名认证服务登录（YKT_OIDC_ISSUER）"
    en = "Real-name sign-in through a provider is not configured here (YKT_OIDC_ISSUER)"


class NoLoginInProgress(DomainError):
    code = "realname_login_not_started"
    http_status = 400
    zh = "没有进行中的实名认证，请重新开始"
    en = "No real-name sign-in is in progress in this session; start again"


class LoginExpired(DomainError):
    code = "realname_login_expired"
    http_status = 400
    zh = "实名认证已超时，请重新开始"
    en = "The real-name sign-in took too long; start again"


class LoginStateMismatch(DomainError):
    code = "realname_login_state_mismatch"
    http_status = 400
    zh = "实名认证回调与本次登录不符"
    en = "The real-name callback does not belong to this sign-in"


class RealNameLoginRefused(DomainError):
    code = "realname_login_refused"
    http_status = 400
    zh = "实名认证未通过：{reason_zh}"
    en = "Real-name sign-in failed: {reason_en}"


class OidcMisconfigured(DomainError):
    """Refuses the platform's start: real-name sign-in is half or unsafely configured."""

    code = "oidc_misconfigured"
    http_status = 500
    zh = "实名认证服务配置有误：{setting} {problem_zh}"
    en = "Real-name provider misconfigured: {setting} {problem_en}"
