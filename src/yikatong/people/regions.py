"""Display names for address codes (GB/T 2260) that ID numbers in Changzhou commonly carry.

Only Changzhou's counties (current and historical, from domain-rules.md §1.1) and Jiangsu's
prefecture-level cities are listed. An ID number's address code is where the number was first
assigned and never changes, so historical codes stay valid for life: a code missing from this
table is reported as a warning by the ID check, never as a rejection.
"""

from __future__ import annotations

PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
}

JIANGSU_CITIES: dict[str, str] = {
    "3201": "南京市", "3202": "无锡市", "3203": "徐州市", "3204": "常州市", "3205": "苏州市",
    "3206": "南通市", "3207": "连云港市", "3208": "淮安市", "3209": "盐城市", "3210": "扬州市",
    "3211": "镇江市", "3212": "泰州市", "3213": "宿迁市",
}

# Changzhou counties; historical ones are marked with the years they existed.
CHANGZHOU_COUNTIES: dict[str, str] = {
    "320400": "常州市",
    "320401": "市辖区",
    "320402": "天宁区",
    "320403": "广化区（1983–1986）",
    "320404": "钟楼区",
    "320405": "戚墅堰区（1983–2015）",
    "320411": "新北区（原郊区）",
    "320412": "武进区",
    "320413": "金坛区",
    "320421": "武进县（1983–1995）",
    "320422": "金坛县（1983–1993）",
    "320423": "溧阳县（1983–1990）",
    "320481": "溧阳市",
    "320482": "金坛市（1993–2015）",
    "320483": "武进市（1995–2002）",
}

PERMIT_REGIONS: dict[str, str] = {"810000": "香港特别行政区", "820000": "澳门特别行政区",
                                  "830000": "台湾地区"}


def is_known_province(code: str) -> bool:
    return code[:2] in PROVINCES


def region_name(code: str) -> str | None:
    """The fullest display name this table knows for a 6-digit address code, or None.

    Returns a name only when the whole code is known; a known province or city with an
    unlisted county gives None (the caller may still show `partial_region_name`).
    """
    if code in PERMIT_REGIONS:
        return PERMIT_REGIONS[code]
    if code in CHANGZHOU_COUNTIES:
        county = CHANGZHOU_COUNTIES[code]
        prefix = "江苏省常州市"
        return prefix if code == "320400" else prefix + county
    if code.endswith("00") and code[:4] in JIANGSU_CITIES:
        return "江苏省" + JIANGSU_CITIES[code[:4]]
    if code.endswith("0000") and code[:2] in PROVINCES:
        return PROVINCES[code[:2]]
    return None


def partial_region_name(code: str) -> str | None:
    """The province (and Jiangsu city) part of a code, for display when the county is unknown."""
    province = PROVINCES.get(code[:2])
    if province is None:
        return None
    return province + JIANGSU_CITIES.get(code[:4], "")
