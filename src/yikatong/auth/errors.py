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
