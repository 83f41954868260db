"""The demo city: Xiaogan's real division codes with synthetic people and places, marked as such.

Real: 湖北省 420000, 孝感市 420900 and its seven county-level divisions (GB/T 2260); the four
streets of Xiaonan's urban area (书院, 新华, 广场, 车站) with their 12-digit statistical codes;
the names 文昌社区 and 体育路学校, which the source article mentions. Synthetic (is_synthetic=True):
the codes of 文昌社区 and every other community, every other school, the area, and all people.
"""

from __future__ import annotations

from dataclasses import dataclass

DEMO_PASSWORD = "Bihuan@2026"  # noqa: S105 - printed by ./run demo and in the README

# (code, name, parent code, level, synthetic)
REGIONS: list[tuple[str, str, str | None, str, bool]] = [
    ("420000", "湖北省", None, "province", False),
    ("420900", "孝感市", "420000", "city", False),
    ("420902", "孝南区", "420900", "district", False),
    ("420921", "孝昌县", "420900", "district", False),
    ("420922", "大悟县", "420900", "district", False),
    ("420923", "云梦县", "420900", "district", False),
    ("420981", "应城市", "420900", "district", False),
    ("420982", "安陆市", "420900", "district", False),
    ("420984", "汉川市", "420900", "district", False),
    ("420902001000", "书院街道", "420902", "street", False),
    ("420902002000", "新华街道", "420902", "street", False),
    ("420902003000", "广场街道", "420902", "street", False),
    ("420902004000", "车站街道", "420902", "street", False),
    ("420902003001", "文昌社区", "420902003000", "community", True),
    ("420902003002", "槐荫社区", "420902003000", "community", True),
    ("420902003003", "乾坤社区", "420902003000", "community", True),
    ("420902001001", "书院示范社区", "420902001000", "community", True),
    ("420902002001", "新华示范社区", "420902002000", "community", True),
    ("420902004001", "车站示范社区", "420902004000", "community", True),
]

WENCHANG = "420902003001"
HUAIYIN = "420902003002"
QIANKUN = "420902003003"
GUANGCHANG = "420902003000"
XIAONAN = "420902"
XIAOGAN = "420900"

# (kind, name, short name, jurisdiction code)
DEPARTMENTS: list[tuple[str, str, str, str]] = [
    ("education", "孝感市教育局", "市教育局", XIAOGAN),
    ("market", "孝感市市场监督管理局", "市市场监管局", XIAOGAN),
    ("culture_tourism", "孝感市文化和旅游局", "市文旅局", XIAOGAN),
    ("science_tech", "孝感市科学技术局", "市科技局", XIAOGAN),
    ("public_security", "孝感市公安局", "市公安局", XIAOGAN),
    ("development_reform", "孝感市发展和改革委员会", "市发改委", XIAOGAN),
    ("urban_management", "孝感市城市管理执法委员会", "市城管委", XIAOGAN),
    ("fire_rescue", "孝感市消防救援支队", "市消防救援支队", XIAOGAN),
    ("central_bank", "中国人民银行孝感市分行", "人行孝感市分行", XIAOGAN),
    ("education", "孝南区教育局", "孝南区教育局", XIAONAN),
    ("market", "孝南区市场监督管理局", "孝南区市场监管局", XIAONAN),
]

# (kind, name, community code, address, synthetic)
SENTINELS: list[tuple[str, str, str, str, bool]] = [
    ("community", "文昌社区", WENCHANG, "", True),
    ("community", "槐荫社区", HUAIYIN, "", True),
    ("community", "乾坤社区", QIANKUN, "", True),
    ("school", "体育路学校", WENCHANG, "", False),
    ("school", "广场示范小学", HUAIYIN, "", True),
]


@dataclass(frozen=True)
class AreaSpec:
    name: str
    school_district: str
    region: str
    communities: tuple[str, ...]


AREA = AreaSpec(
    name="广场学区片区",
    school_district="体育路学校学区",
    region=GUANGCHANG,
    communities=(WENCHANG, HUAIYIN, QIANKUN),
)

# (kind code, name, title, phone)
AREA_RESPONSIBLES: list[tuple[str, str, str, str]] = [
    ("bureau_official", "周明", "市教育局校外培训监管科（合成）", "13800001001"),
    ("street_cadre", "吴敏", "广场街道办事处（合成）", "13800001002"),
    ("community_cadre", "郑华", "文昌社区居委会（合成）", "13800001003"),
    ("school_head", "王静", "体育路学校（合成）", "13800001004"),
]

# (username, display name, phone, role, region code, department short name | sentinel | None)
USERS: list[tuple[str, str, str, str, str, str | None]] = [
    ("admin", "系统管理员", "13900000001", "system_admin", XIAOGAN, None),
    ("security", "安全管理员", "13900000002", "security_admin", XIAOGAN, None),
    ("auditor", "审计管理员", "13900000003", "audit_admin", XIAOGAN, None),
    ("supervisor", "陈思远", "13900000004", "supervisor", XIAOGAN, None),
    ("xiaonan", "刘建国", "13900000005", "supervisor", XIAONAN, None),
    ("wenchang", "赵丽", "13900000006", "coordinator", WENCHANG, None),
    ("huaiyin", "孙平", "13900000007", "coordinator", HUAIYIN, None),
    ("yangtiezhu", "杨铁柱", "13900000008", "inspector", WENCHANG, None),
    ("inspector2", "钱红", "13900000009", "inspector", WENCHANG, None),
    ("market", "林涛", "13900000010", "officer", XIAOGAN, "市市场监管局"),
    ("school", "何芳", "13900000011", "school_sentinel", WENCHANG, "体育路学校"),
    ("pianqu", "周明", "13800001001", "area_responsible", GUANGCHANG, "广场学区片区"),
    ("xnjiaoyu", "黄磊", "13900000012", "officer", XIAONAN, "孝南区教育局"),
    ("xnmarket", "郭强", "13900000013", "officer", XIAONAN, "孝南区市场监管局"),
    ("gongan", "马骏", "13900000014", "officer", XIAOGAN, "市公安局"),
]
