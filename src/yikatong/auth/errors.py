from yikatong.core.errors import DomainError, Unauthenticated


class BadCredentials(Unauthenticated):
    code = "bad_credentials"
    zh = "用户名或密码错误"
    en = "Wrong username or password"


class TokenInvalid(Unauthenticated):
    code = "token_invalid"
    zh = "登录凭证无效或已过期"
    en = "The access token is invalid or has expired"


class ChannelNotAllowed(DomainError):
    code = "channel_not_allowed"
    http_status = 403
    zh = "该角色不能通过渠道“{channel}”办理"
    en = "This role cannot act through channel '{channel}'"


class UsernameTaken(DomainError):
    code = "username_taken"
    http_status = 409
    zh = "用户名已存在"
    en = "The username is taken"


class WeakPassword(DomainError):
    code = "weak_password"
    http_status = 422
    zh = "密码至少需要 {minimum} 位"
    en = "The password needs at least {minimum} characters"


class RealNameFailed(DomainError):
    code = "real_name_failed"
    http_status = 422
    zh = "实名认证未通过：{reason_zh}"
    en = "Real-name authentication failed: {reason_en}"


class HolderAlreadyRegistered(DomainError):
    code = "holder_already_registered"
    http_status = 409
    zh = "该身份证号已注册账号，请直接登录"
    en = "An account already exists for this ID number; log in instead"


class UnknownRole(DomainError):
    code = "unknown_role"
    http_status = 422
    zh = "角色“{role}”不能由管理员创建"
    en = "Role '{role}' cannot be given to a staff or partner login"


class TooManyRequests(DomainError):
    """A throttle's limit is spent (auth/throttle.py); the answer says when to come back."""

    code = "too_many_requests"
    http_status = 429
    zh = "请求过于频繁，请 {retry_after} 秒后再试"
    en = "Too many requests; try again in {retry_after} s"

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.details["retry_after"])}


class LoginLocked(TooManyRequests):
    """Too many failed logins under one user name, whether or not it exists."""

    code = "login_locked"
    zh = "登录失败次数过多，该用户名已暂时锁定，请 {retry_after} 秒后再试"
    en = "Too many failed logins for this user name; it is locked, try again in {retry_after} s"
