from yikatong.core.choices import ChoiceRefused
from yikatong.core.errors import DomainError, Unauthenticated


class BadCredentials(Unauthenticated):
    code = "bad_credentials"
    zh = "用户名或密码错误"
    en = "Wrong username or password"


class TokenInvalid(Unauthenticated):
    code = "token_invalid"
    zh = "登录凭证无效或已过期"
    en = "The access token is invalid or has expired"


class ChannelNotAllowed(ChoiceRefused):
    """A claimed channel the credential may not use; `details.allowed` lists those it may."""

    code = "channel_not_allowed"
    http_status = 403
    zh = "此凭证不能通过渠道“{channel}”办理，可用渠道：{allowed_zh}"
    en = "This credential cannot act through channel '{channel}'; it may use: {allowed_en}"


class UsernameTaken(DomainError):
    code = "username_taken"
    http_status = 409
    zh = "用户名已存在"
    en = "The username is taken"


class InvalidUsername(DomainError):
    code = "invalid_username"
    http_status = 422
    zh = "用户名只能包含字母、数字和 . _ @ -（3 至 64 位），且不能使用系统保留名称"
    en = "A user name has 3 to 64 letters, digits or . _ @ - and is not a reserved system name"


class WeakPassword(DomainError):
    code = "weak_password"
    http_status = 422
    zh = "密码强度不够：{reason_zh}"
    en = "The password is too weak: {reason_en}"


class CurrentPasswordWrong(DomainError):
    # 403, not 401: the caller is logged in; only the re-entered password is wrong.
    code = "current_password_wrong"
    http_status = 403
    zh = "当前密码不正确"
    en = "The current password is wrong"


class PasswordUnchanged(DomainError):
    code = "password_unchanged"
    http_status = 422
    zh = "新密码不能与当前密码相同"
    en = "The new password must differ from the current one"


class NoPasswordLogin(DomainError):
    code = "no_password_login"
    http_status = 409
    zh = "该账号不使用密码登录（仅 API 密钥）"
    en = "This login has no password (it uses API keys only)"


class UserAlreadyInState(DomainError):
    code = "user_already_in_state"
    http_status = 409
    zh = "该账号已经是{state_zh}状态"
    en = "The login is already {state_en}"


class CannotDeactivateSelf(DomainError):
    code = "cannot_deactivate_self"
    http_status = 409
    zh = "不能停用自己的账号"
    en = "You cannot deactivate your own login"


class LogoutNeedsBearer(DomainError):
    code = "logout_needs_bearer"
    http_status = 422
    zh = "退出登录只适用于登录令牌；API 密钥请由管理员吊销"
    en = "Logout applies to bearer tokens; an API key is revoked by the card centre"


class ApiKeyNotAllowed(DomainError):
    code = "api_key_not_allowed"
    http_status = 422
    zh = "角色“{role}”的账号不能持有 API 密钥"
    en = "A '{role}' login cannot hold API keys"


class ApiKeyLifetimeTooLong(DomainError):
    code = "api_key_lifetime_too_long"
    http_status = 422
    zh = "API 密钥有效期最长 {maximum_days} 天"
    en = "An API key may be valid for at most {maximum_days} days"


class ApiKeyGraceTooLong(DomainError):
    code = "api_key_grace_too_long"
    http_status = 422
    zh = "轮换后旧密钥的宽限期最长 {maximum_hours} 小时"
    en = "The old key's grace period after rotation is at most {maximum_hours} hours"


class ApiKeyNotFound(DomainError):
    code = "api_key_not_found"
    http_status = 404
    zh = "未找到该 API 密钥"
    en = "API key not found"


class ApiKeyRevoked(DomainError):
    code = "api_key_revoked"
    http_status = 409
    zh = "该 API 密钥已吊销或已过期"
    en = "The API key is already revoked or expired"


class ReservedUsername(DomainError):
    code = "reserved_username"
    http_status = 422
    zh = "用户名“{username}”是演示账号名，生产环境不能使用"
    en = "'{username}' is a demo login name and cannot be used in production"


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


class BindingProofFailed(DomainError):
    """A one-time or activation code that does not prove the claimed person: wrong, expired,
    used up, or a name and ID number with no such code. One answer for all, so it never
    tells whether an ID number is on file."""

    code = "binding_proof_failed"
    http_status = 422
    zh = "验证未通过：验证码或激活码不正确、已过期或已使用"
    en = "Verification failed: the code is wrong, expired or already used"


class NoPhoneOnFile(DomainError):
    code = "no_phone_on_file"
    http_status = 409
    zh = "您的档案中没有手机号，请携带身份证和卡片到服务网点办理"
    en = "There is no phone number on your record; please come to an outlet with your ID card and card"
