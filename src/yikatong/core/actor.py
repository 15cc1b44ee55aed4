"""Who is acting, in which role, through which channel: every service call carries one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    HOLDER = "holder"                          # 持卡人
    SS_OUTLET = "ss_outlet_operator"           # 社会保障卡服务网点
    CITIZEN_OUTLET = "citizen_outlet_operator"  # 市民卡网点
    PHONE_AGENT = "phone_agent_12333"          # 12333 电话坐席
    EMPLOYER_AGENT = "employer_agent"          # 单位经办人
    BANK = "bank"                              # 合作银行 (branches included)
    TRANSIT_OPERATOR = "transit_operator"      # 公交 / 地铁运营方
    ADMIN = "admin"                            # 卡管中心管理员
    MEDICAL_OFFICE = "medical_office"          # 医保经办 (the 12393 authority)
    # 定点医药机构: a designated hospital or pharmacy; `Actor.branch_code` is its fixmedins_code
    MEDICAL_INSTITUTION = "medical_institution"
    # 待遇发放机构: an office that pays benefits (social insurance agency, housing fund, talent
    # office); `Actor.branch_code` is its office code, which names the programmes it runs
    PAYING_OFFICE = "paying_office"
    HR_OFFICER = "hr_officer"                  # 人社经办: reviews HR service cases, reads card accounts
    # 公共事业缴费单位: a water, electricity or gas company; `Actor.branch_code` is its biller code
    BILLER = "biller"
    # 景区 / 文化场馆运营方: a scenic spot's or museum's operator (ticket desk, gates, its
    # settlement); `Actor.branch_code` is its operator code, which names the venues it runs
    VENUE_OPERATOR = "venue_operator"
    LIBRARIAN = "librarian"                    # 图书馆馆员; `Actor.branch_code` is the library code
    # 特约商户: a merchant's till enrolled in discount campaigns; `branch_code` = merchant code
    MERCHANT = "merchant"
    # 优惠活动出资方: who funds a campaign (the city, a venue operator, a partner bank);
    # `Actor.branch_code` is the sponsor code, which names the campaigns it owns
    CAMPAIGN_SPONSOR = "campaign_sponsor"
    # 监控采集: a metrics scraper (Prometheus) with an API key; the access table lets it read
    # /metrics and nothing else (docs/production.md, "Monitoring")
    MONITORING = "monitoring"
    SYSTEM = "system"                          # background jobs


class Channel(StrEnum):
    OUTLET = "outlet"                  # social-security card service outlet counter
    CITIZEN_OUTLET = "citizen_outlet"  # 市民卡网点 (direct or partner)
    PHONE_12333 = "phone_12333"
    ONLINE_PORTAL = "online_portal"    # 网上办事服务大厅
    ONLINE_APP = "online_app"          # 江苏智慧人社 APP
    BANK_BRANCH = "bank_branch"
    SELF_SERVICE = "self_service"
    EMPLOYER = "employer"
    PARTNER_API = "partner_api"
    MEDICAL_DESK = "medical_desk"      # a medical insurance office's counter (医保经办窗口)
    HOSPITAL = "hospital"              # a designated institution's desk or terminal (定点医药机构)
    AGENCY = "agency"                  # a public office's desk or system (人社 / 公积金 / 人才办)
    VENUE = "venue"                    # a scenic spot's or cultural venue's ticket desk or gate
    LIBRARY = "library"                # a library's desk, kiosk or library system
    MERCHANT = "merchant"              # a merchant's till (收银台)
    SYSTEM = "system"

    @property
    def is_online(self) -> bool:
        return self in (Channel.ONLINE_PORTAL, Channel.ONLINE_APP)


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: Role
    channel: Channel
    bank_code: str | None = None     # for Role.BANK
    branch_code: str | None = None   # bank branch or outlet code
    person_id: int | None = None     # for Role.HOLDER
    # users.id of the login acting (None for system actors: jobs, the CLI, a bank's node).
    # Ownership is recorded by this id; `user_id` is the login name, for audit and display.
    account_id: int | None = None
    employer_uscc: str | None = None  # for Role.EMPLOYER_AGENT: the employer they act for

    def owns(self, owner_account_id: int | None) -> bool:
        """Whether a record owned by the login `owner_account_id` (users.id) is this login's;
        a system actor owns nothing (ownership is never decided by a login name)."""
        return self.account_id is not None and self.account_id == owner_account_id

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(user_id=name, role=Role.SYSTEM, channel=Channel.SYSTEM)
